/* identity-scan.js: the login page's "扫码登录" panel (identity.scan_login).
 *
 * Polls /oidc/interaction/<id>/scan/status?s=<request id> every two seconds (same origin, the
 * browser's flow cookie binds the request to this browser). Once the phone approved, it submits
 * the panel's own form (POST with the page's CSRF token) - the same form a person without
 * JavaScript submits by hand. Denied or expired: it stops and says so; "刷新二维码" loads a new
 * code. Nothing here touches the token: the QR image is rendered by the server.
 */
(function () {
  "use strict";

  var panel = document.getElementById("scan-login");
  var form = document.getElementById("scan-complete");
  var note = document.getElementById("scan-status");
  if (!panel || !form || !note || !window.fetch) return;
  var url = panel.getAttribute("data-status-url");
  var timer = null;
  var busy = false;

  function stop(message) {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
    note.textContent = message;
  }

  function check() {
    if (busy) return;
    busy = true;
    window.fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { status: "expired" }; })
      .then(function (body) {
        if (body.status === "approved") {
          stop("已在手机上确认，正在登录……");
          form.submit();
        } else if (body.status === "denied") {
          stop("已在手机上拒绝。如需扫码登录，请刷新二维码。");
        } else if (body.status === "expired" || body.status === "consumed") {
          stop("二维码已失效，请刷新二维码。");
        }
      })
      .catch(function () { /* a network hiccup: try again on the next tick */ })
      .then(function () { busy = false; });
  }

  timer = window.setInterval(check, 2000);
})();
