"""archive.png_check against Pillow as the independent decoder: every PNG Pillow writes (all
colour types and bit depths) and hand-built interlaced ones are accepted; no damaged file that
Pillow fails to decode is accepted (every single-byte change, with the chunk CRCs recomputed so
that the change reaches the header, the zlib stream and the scanlines; every truncation)."""

from __future__ import annotations

import io
import random
import struct
import warnings
import zlib

import pytest
from PIL import Image

from archive.png_check import PngFacts, PngInvalid, PngTooLarge, check_png

MAX_PIXELS = 10**8


def _pillow_decodes(data: bytes) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
            with Image.open(io.BytesIO(data)) as im:
                im.load()
    except Exception:  # anything Pillow raises is "does not decode"
        return False
    return True


def _reason(data: bytes) -> str | None:
    try:
        check_png(io.BytesIO(data), max_pixels=MAX_PIXELS)
    except PngInvalid as exc:
        return exc.reason
    return None


def _saved(mode: str, size: tuple[int, int], rng: random.Random, **params: object) -> bytes:
    im = Image.new(mode, size)
    if mode in ("1", "L", "P", "I;16"):
        top = {"1": 2, "I;16": 65536}.get(mode, 256)
        im.putdata([rng.randrange(top) for _ in range(size[0] * size[1])])
    else:
        im.putdata(
            [tuple(rng.randrange(256) for _ in mode) for _ in range(size[0] * size[1])]  # type: ignore[misc]
        )
    out = io.BytesIO()
    im.save(out, format="PNG", **params)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _interlaced_grey(width: int, height: int, rng: random.Random) -> tuple[bytes, list[int]]:
    """An 8-bit greyscale Adam7 PNG built by hand (Pillow does not write interlaced PNGs)."""
    pixels = [rng.randrange(256) for _ in range(width * height)]
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
    raw = bytearray()
    for x0, y0, dx, dy in (*passes, (0, 1, 1, 2)):
        for y in range(y0, height, dy):
            row = [pixels[y * width + x] for x in range(x0, width, dx)]
            if row:
                raw += bytes([0, *row])
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    png += _chunk(b"IDAT", zlib.compress(bytes(raw))) + _chunk(b"IEND", b"")
    return png, pixels


def _with_crcs_recomputed(data: bytes) -> bytes:
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        (length,) = struct.unpack(">I", out[pos : pos + 4])
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4 : end])))
        pos = end + 4
    return bytes(out)


def _corpus() -> list[bytes]:
    rng = random.Random(20261207)
    images = [
        _saved(mode, size, rng)
        for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
        for size in ((1, 1), (7, 5), (33, 17))
    ]
    images += [_saved("P", (9, 4), rng, bits=bits) for bits in (1, 2, 4)]
    return images


def test_every_png_pillow_writes_is_accepted_with_its_size() -> None:
    for data in _corpus():
        assert _pillow_decodes(data)
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
        assert check_png(io.BytesIO(data), max_pixels=MAX_PIXELS) == PngFacts(*size, frames=1)


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (8, 8), (13, 11), (100, 37)])
def test_interlaced_images_are_followed_pass_by_pass(size: tuple[int, int]) -> None:
    data, pixels = _interlaced_grey(*size, random.Random(size[0]))
    with Image.open(io.BytesIO(data)) as im:  # the independent decoder agrees on the pixels
        assert im.tobytes() == bytes(pixels)
    assert _reason(data) is None
    # One scanline's filter byte raised to 5 (past the last pass's start): refused.
    raw = zlib.decompress(data[41:-16])
    bad = bytearray(raw)
    bad[len(raw) - (size[0] + 1) * ((size[1]) // 2 or 1)] = 5
    broken = data[:33] + _chunk(b"IDAT", zlib.compress(bytes(bad))) + data[-12:]
    assert _reason(broken) == "png.filter_type"
    assert not _pillow_decodes(broken)


def test_no_damaged_file_is_accepted_that_pillow_cannot_decode() -> None:
    accepted_bad = []
    reasons: set[str] = set()
    for data in _corpus()[::3]:
        for i in range(8, len(data)):
            for flip in (0x01, 0x80):
                changed = bytearray(data)
                changed[i] ^= flip
                damaged = _with_crcs_recomputed(bytes(changed))
                reason = _reason(damaged)
                reasons.add(reason or "")
                if reason is None and not _pillow_decodes(damaged):
                    accepted_bad.append((i, flip))
        for n in range(len(data)):
            assert _reason(data[:n]) is not None, n
    assert accepted_bad == []
    # The CRC fix-up lets the changes reach the deeper checks.
    assert {"png.zlib", "png.header", "png.data_length", "png.filter_type"} <= reasons


def test_stated_reasons() -> None:
    good = _saved("RGB", (4, 4), random.Random(1))
    assert _reason(b"GIF89a" + good[6:]) == "png.signature"
    flipped = bytearray(good)
    flipped[40] ^= 1  # inside IDAT, CRC left as it was
    assert _reason(bytes(flipped)) == "png.crc"
    ihdr = struct.pack(">IIBBBBB", 4, 4, 3, 2, 0, 0, 0)  # RGB at 3 bits: not a valid pair
    assert _reason(good[:8] + _chunk(b"IHDR", ihdr) + good[33:]) == "png.header"
    assert _reason(good[:-12]) == "png.truncated"
    extra = _chunk(b"ABCD", b"")
    assert _reason(good[:33] + extra + good[33:]) == "png.unknown_critical_chunk"
    ancillary = _chunk(b"abCD", b"private")
    assert _reason(good[:33] + ancillary + good[33:]) is None
    huge = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    with pytest.raises(PngTooLarge):
        check_png(io.BytesIO(good[:8] + _chunk(b"IHDR", huge) + good[33:]), max_pixels=MAX_PIXELS)
    short = zlib.compress(zlib.decompress(good[41:-16])[:-3])
    assert _reason(good[:33] + _chunk(b"IDAT", short) + good[-12:]) == "png.data_length"
    palette = _saved("P", (3, 3), random.Random(2))
    without_plte = b"".join(
        palette[pos : pos + 12 + length]
        for pos, length in _chunks(palette)
        if palette[pos + 4 : pos + 8] != b"PLTE"
    )
    assert _reason(palette[:8] + without_plte) == "png.palette"


def test_an_apng_counts_its_frames() -> None:
    frames = [Image.new("RGB", (6, 6), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:])
    assert check_png(io.BytesIO(out.getvalue()), max_pixels=MAX_PIXELS).frames == 3


def _chunks(data: bytes) -> list[tuple[int, int]]:
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((pos, length))
        pos += 12 + length
    return out
