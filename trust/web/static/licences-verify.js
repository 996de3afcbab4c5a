/* licences-verify.js: the offline half of the public licence verify page (elicence spec §9.1 3b).
 *
 * When the page is opened from a printed QR (HTTPS://<host>/E#<Base32>), the fragment is read
 * here and NEVER sent to the server: Base32 -> zlib inflate (DecompressionStream "deflate") ->
 * COSE_Sign1 -> the signed trust list is fetched (it is public, the same for everyone), its
 * SM2 signature checked against the trust-list key pinned in the page and its validity
 * (iat .. exp) against this device's clock; its issue time is shown -> the EL1 signature is
 * checked against the issuer key the list names for that kid and bound to the issuer's USCC ->
 * the dates are checked.
 *
 * Live status (only when the user presses the button, spec §9.4): the QR's status reference
 * (claim 11 = [list-id, index]) names the issuer's signed 2-bit status list; the whole list
 * (>= 131,072 entries) is fetched, its SM2 signature checked against the same issuer key from
 * the trust list, its list id, issuer, freshness (iat + ttl) checked, and the licence's entry
 * read here: the server learns only which list, never which licence. A QR without a status
 * reference falls back to posting the payload to /licences/verify/qr.
 * SM2/SM3: licences-sm2.js (sm-crypto, MIT), global `sm2`.
 */
(function () {
  "use strict";

  var SM2_ALG = -65537;
  var TRUST_CT = "application/el1-trust+cbor";
  var STATUS_CT = "application/el1-status+cbor";
  var SKEW_SECONDS = 90;  // spec §9.8 clock-skew window
  var STATUS_RESULT = [
    ["VALID", "有效"],
    ["SUSPENDED", "暂扣"],
    ["INVALID", "无效（已撤销、吊销、注销、撤回或过期）"],
    ["SUPERSEDED", "已变更，有新版本"],
  ];

  function $(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ bytes and encodings

  function base32Decode(text) {
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    var bits = 0, value = 0, out = [];
    for (var i = 0; i < text.length; i++) {
      var v = alphabet.indexOf(text.charAt(i));
      if (v < 0) throw new Error("base32");
      value = (value << 5) | v;
      bits += 5;
      if (bits >= 8) {
        out.push((value >>> (bits - 8)) & 0xff);
        bits -= 8;
      }
    }
    return new Uint8Array(out);
  }

  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }

  function inflate(bytes) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }

  // ------------------------------------------------------------------ minimal CBOR (RFC 8949)

  function cborDecode(bytes) {
    var pos = 0;
    function need(n) { if (pos + n > bytes.length) throw new Error("cbor: truncated"); }
    function uint(info) {
      if (info < 24) return info;
      var n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -1;
      if (n < 0) throw new Error("cbor: indefinite or reserved");
      need(n);
      var v = 0;
      for (var i = 0; i < n; i++) v = v * 256 + bytes[pos++];
      return v;
    }
    function item(depth) {
      if (depth > 8) throw new Error("cbor: too deep");
      need(1);
      var first = bytes[pos++], major = first >> 5, info = first & 31;
      if (major === 7) {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        throw new Error("cbor: unsupported simple value");
      }
      var n = uint(info);
      if (major === 0) return n;
      if (major === 1) return -1 - n;
      if (major === 2 || major === 3) {
        need(n);
        var slice = bytes.slice(pos, pos + n);
        pos += n;
        return major === 2 ? slice : new TextDecoder("utf-8", { fatal: true }).decode(slice);
      }
      if (major === 4) {
        var arr = [];
        for (var i = 0; i < n; i++) arr.push(item(depth + 1));
        return arr;
      }
      if (major === 5) {
        var map = new Map();
        for (var j = 0; j < n; j++) {
          var k = item(depth + 1);
          if (map.has(k)) throw new Error("cbor: duplicate key");
          map.set(k, item(depth + 1));
        }
        return map;
      }
      return { tag: n, value: item(depth + 1) };  // major 6
    }
    var value = item(0);
    if (pos !== bytes.length) throw new Error("cbor: trailing bytes");
    return value;
  }

  function cborHead(major, n) {
    if (n < 24) return [(major << 5) | n];
    if (n < 256) return [(major << 5) | 24, n];
    if (n < 65536) return [(major << 5) | 25, n >> 8, n & 255];
    return [(major << 5) | 26, (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function concat(parts) {
    var total = 0, i;
    for (i = 0; i < parts.length; i++) total += parts[i].length;
    var out = new Uint8Array(total), off = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], off); off += parts[i].length; }
    return out;
  }

  // RFC 9052 §4.4: Sig_structure = ["Signature1", protected, h'', payload]
  function sigStructure(protectedBytes, payload) {
    var context = new TextEncoder().encode("Signature1");
    return concat([
      new Uint8Array([0x84]),
      new Uint8Array(cborHead(3, context.length)), context,
      new Uint8Array(cborHead(2, protectedBytes.length)), protectedBytes,
      new Uint8Array([0x40]),
      new Uint8Array(cborHead(2, payload.length)), payload,
    ]);
  }

  // ------------------------------------------------------------------ COSE_Sign1

  function parseCose(bytes, contentType) {
    var outer = cborDecode(bytes);
    if (outer && outer.tag !== undefined) {
      if (outer.tag !== 18) throw new Error("cose: tag");
      outer = outer.value;
    }
    if (!Array.isArray(outer) || outer.length !== 4) throw new Error("cose: shape");
    var header = cborDecode(outer[0]);
    if (!(header instanceof Map) || header.get(1) !== SM2_ALG) throw new Error("cose: alg");
    if ((contentType || null) !== (header.has(3) ? header.get(3) : null)) {
      throw new Error("cose: content type");
    }
    var kid = header.get(4);
    if (!(kid instanceof Uint8Array) || kid.length !== 8) throw new Error("cose: kid");
    if (!(outer[3] instanceof Uint8Array) || outer[3].length !== 64) throw new Error("cose: sig");
    return { protectedBytes: outer[0], kid: kid, payload: outer[2], signature: outer[3] };
  }

  function sm2Verifies(cose, publicKeyHex) {
    var message = Array.prototype.slice.call(sigStructure(cose.protectedBytes, cose.payload));
    return window.sm2.doVerifySignature(message, hex(cose.signature), publicKeyHex, {
      der: false, hash: true, userId: "1234567812345678",
    });
  }

  // ------------------------------------------------------------------ the check

  var EPOCH = Date.UTC(1970, 0, 1);

  function dayString(days) {
    if (days === 0) return "长期有效";
    var d = new Date(EPOCH + days * 86400000);
    return d.getUTCFullYear() + "年" + (d.getUTCMonth() + 1) + "月" + d.getUTCDate() + "日";
  }

  function todayDays() {
    // Licence dates are calendar days in China Standard Time (UTC+8).
    return Math.floor((Date.now() + 8 * 3600000) / 86400000);
  }

  function show(result, text, rows) {
    var box = $("offline-result");
    box.hidden = false;
    box.setAttribute("data-result", result);
    $("offline-verdict").textContent = text;
    var list = $("offline-fields");
    list.textContent = "";
    (rows || []).forEach(function (row) {
      var dt = document.createElement("dt");
      dt.textContent = row[0];
      var dd = document.createElement("dd");
      dd.textContent = row[1];
      list.appendChild(dt);
      list.appendChild(dd);
    });
  }

  function fetchBytes(url) {
    return fetch(url, { credentials: "omit" }).then(function (r) {
      if (!r.ok) throw new Error("unavailable: " + url);
      return r.arrayBuffer();
    }).then(function (b) { return new Uint8Array(b); });
  }

  function nowSeconds() { return Math.floor(Date.now() / 1000); }

  function timeString(seconds) {
    // Beijing time (UTC+8), as the page shows every time.
    var d = new Date((seconds + 8 * 3600) * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }

  function TrustListError(message) { this.message = message; }

  // The trust list: verified against the pinned key, refused outside its validity (spec §9.8).
  function trustList(listBytes, anchorHex) {
    var cose = parseCose(listBytes, TRUST_CT);
    if (!sm2Verifies(cose, anchorHex)) throw new TrustListError("信任列表签名无效");
    var body = cborDecode(cose.payload);
    if (!(body instanceof Map) || body.get(1) !== 1) throw new TrustListError("不支持的信任列表版本");
    var iat = body.get(3), exp = body.get(5), now = nowSeconds();
    if (typeof iat !== "number" || typeof exp !== "number" || !(iat < exp)) {
      throw new TrustListError("信任列表格式错误");
    }
    if (now + SKEW_SECONDS < iat) throw new TrustListError("信任列表尚未生效（请检查本机时间）");
    if (now > exp) throw new TrustListError("信任列表已过期");
    var keys = {};
    body.get(4).forEach(function (e) {
      var k = hex(e[0]);
      if (!keys[k]) keys[k] = { point: hex(e[1]), issuers: e[2], name: e[3] };
    });
    return { keys: keys, sequence: body.get(2), issuedAt: iat, expiresAt: exp };
  }

  function showTrustList(list) {
    var info = $("trust-list-info");
    info.hidden = false;
    info.textContent = "已使用颁证单位密钥信任列表第 " + list.sequence + " 版（签发于 " +
      timeString(list.issuedAt) + "，有效至 " + timeString(list.expiresAt) + "，北京时间）。";
  }

  // What the offline check established, for the live-status button.
  var checked = null;

  function verifyFragment(fragment, anchorHex) {
    var cose;
    var bytes;
    try {
      bytes = base32Decode(fragment);
    } catch (e) {
      show("BAD_SIGNATURE", "二维码数据无法识别（签名无效或数据被篡改）");
      return Promise.resolve();
    }
    return inflate(bytes).then(function (raw) {
      cose = parseCose(raw, null);
      if (!anchorHex) throw new TrustListError("信任列表尚未发布");
      return fetchBytes("/licences/trust-list");
    }).then(function (listBytes) {
      var list = trustList(listBytes, anchorHex);
      showTrustList(list);
      var entry = list.keys[hex(cose.kid)];
      if (!entry) {
        show("UNKNOWN_ISSUER", "颁证单位不在信任列表中");
        return;
      }
      // Verify before parsing the payload (the HCERT rule).
      if (!sm2Verifies(cose, entry.point)) {
        show("BAD_SIGNATURE", "签名无效或数据被篡改");
        return;
      }
      var p = cborDecode(cose.payload);
      if (!(p instanceof Map) || p.get(1) !== 1) {
        show("BAD_SIGNATURE", "不支持的二维码版本");
        return;
      }
      if (entry.issuers.length && entry.issuers.indexOf(p.get(5)) < 0) {
        show("UNKNOWN_ISSUER", "签名密钥不属于该颁证单位");
        return;
      }
      var today = todayDays(), until = p.get(8);
      var rows = [
        ["颁证单位", p.has(17) ? p.get(17) : entry.name],
        ["证照编号", p.get(4)],
        ["持证主体", p.get(9)],
        ["有效期", dayString(p.get(7)) + " 至 " + dayString(until)],
        ["电子证照标识", p.get(2)],
      ];
      if (until !== 0 && today > until) {
        show("EXPIRED", "签名有效，但证照已过有效期", rows);
      } else {
        show("VALID", "签名有效（已在本机离线验证，未向服务器发送二维码内容）", rows);
      }
      var ref = p.get(11);
      checked = {
        keys: list.keys,
        issuer: p.get(5),
        statusRef: Array.isArray(ref) && ref.length === 2 ? { list: ref[0], index: ref[1] } : null,
      };
      $("live-check").hidden = false;
    }).catch(function (e) {
      if (e instanceof TrustListError) {
        show("TRUST_LIST_UNUSABLE", "无法离线核验：" + e.message);
      } else {
        show("BAD_SIGNATURE", "二维码数据无法识别（签名无效或数据被篡改）");
      }
    });
  }

  function liveShow(result, text) {
    var out = $("live-result");
    out.setAttribute("data-result", result);
    out.textContent = text;
  }

  // The licence's entry in its issuer's signed 2-bit status list (spec §9.4).
  function statusFromList(listBytes, ref) {
    var cose = parseCose(listBytes, STATUS_CT);
    var entry = checked.keys[hex(cose.kid)];
    if (!entry) throw new Error("status list key not in the trust list");
    if (!sm2Verifies(cose, entry.point)) throw new Error("status list signature");
    var m = cborDecode(cose.payload);
    if (!(m instanceof Map) || m.get(1) !== 1 || m.get(7) !== 2) throw new Error("status list version");
    if (m.get(2) !== ref.list) throw new Error("another status list");
    var issuer = m.get(3);
    if (issuer !== checked.issuer || (entry.issuers.length && entry.issuers.indexOf(issuer) < 0)) {
      throw new Error("status list issuer");
    }
    var iat = m.get(5), ttl = m.get(6), size = m.get(8), now = nowSeconds();
    if (now + SKEW_SECONDS < iat) throw new Error("status list from the future");
    if (!(typeof ref.index === "number" && ref.index >= 0 && ref.index < size)) {
      throw new Error("status index out of range");
    }
    return inflate(m.get(9)).then(function (packed) {
      if (packed.length !== size / 4) throw new Error("status list size");
      var value = (packed[ref.index >> 2] >> ((ref.index & 3) * 2)) & 3;
      return { value: value, issuedAt: iat, stale: now > iat + ttl };
    });
  }

  function liveCheckByList(ref) {
    liveShow("PENDING", "正在下载并验证颁证单位的状态列表……");
    fetchBytes("/licences/status-lists/" + encodeURIComponent(ref.list)).then(function (bytes) {
      return statusFromList(bytes, ref);
    }).then(function (status) {
      var r = STATUS_RESULT[status.value];
      var age = "（状态列表签发于 " + timeString(status.issuedAt) + "，北京时间）";
      if (status.stale) {
        liveShow("VALID_STATUS_STALE", "状态列表已过期，以下状态可能不是最新：" + r[1] + age);
      } else {
        liveShow(r[0], "在线状态：" + r[1] + "（" + r[0] + "）" + age);
      }
    }).catch(function () {
      liveShow("ERROR", "在线状态查询失败（状态列表无法验证），请稍后再试");
    });
  }

  function liveCheckByPayload(fragment) {
    var payload = "HTTPS://" + window.location.host.toUpperCase() + "/E#" + fragment;
    liveShow("PENDING", "正在查询……");
    fetch("/licences/verify/qr", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ payload: payload }),
      credentials: "omit",
    }).then(function (r) { return r.json(); }).then(function (body) {
      liveShow(body.result || "ERROR", "在线状态：" + (body.result_zh || body.title || "查询失败") +
        (body.result ? "（" + body.result + "）" : ""));
    }).catch(function () {
      liveShow("ERROR", "在线状态查询失败，请稍后再试");
    });
  }

  function liveCheck(fragment) {
    if (checked && checked.statusRef) {
      liveCheckByList(checked.statusRef);
    } else {
      liveCheckByPayload(fragment);
    }
  }

  function start() {
    var root = $("offline");
    if (!root) return;
    var fragment = window.location.hash.replace(/^#/, "");
    if (!fragment) return;
    root.hidden = false;
    var anchorHex = root.getAttribute("data-anchor");
    verifyFragment(fragment, anchorHex);
    $("live-check").addEventListener("click", function () { liveCheck(fragment); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
