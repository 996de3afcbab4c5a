"""``trust.web.http_protocol``: uvicorn's HTTP/1.1 protocol with a response's header block and
body in one socket write. Real uvicorn servers in subprocesses (``_cases_app``), ours and
uvicorn's stock ``httptools`` protocol side by side: every behaviour is asserted on both (the
stock one is the reference), and the number of write system calls (``/proc/<pid>/io``) on both
(so the count is shown to tell them apart)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trust.web.http_protocol import HTTP_PROTOCOL, HttpProtocol

REPO = Path(__file__).resolve().parents[3]
PROTOCOLS = {"ours": HTTP_PROTOCOL, "stock": "httptools"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, int]]:
    """``(protocol name, port, pid)`` of a running server."""
    name: str = request.param
    port = _free_port()
    argv = [sys.executable, "-m", "uvicorn", "tests.integration.web._cases_app:app"]
    argv += ["--port", str(port), "--lifespan", "off", "--log-level", "warning"]
    argv += ["--http", PROTOCOLS[name]]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.05)
        yield name, port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Reader:
    """HTTP/1.1 responses read off a socket (Content-Length or chunked bodies)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(marker)
        return head + marker

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self) -> tuple[bytes, dict[bytes, bytes]]:
        status, *lines = self.until(b"\r\n\r\n")[:-4].split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines)
        return status, headers

    def response(self, *, head_request: bool = False) -> tuple[bytes, bytes]:
        status, headers = self.head()
        if head_request:
            return status, b""
        if headers.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                size = int(self.until(b"\r\n")[:-2], 16)
                body += self.exactly(size)
                self.exactly(2)
                if size == 0:
                    return status, body
        return status, self.exactly(int(headers[b"content-length"]))


@pytest.fixture
def conn(server: tuple[str, int, int]) -> Iterator[_Reader]:
    """A new keep-alive connection to ``server``."""
    with socket.create_connection(("127.0.0.1", server[1]), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        yield _Reader(sock)


def _get(path: str, *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: t", *extra, "", ""]).encode()


def _writes(pid: int) -> int:
    with open(f"/proc/{pid}/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("syscw"))


def test_ours_is_what_the_import_string_names() -> None:
    from uvicorn.importer import import_from_string

    assert import_from_string(HTTP_PROTOCOL) is HttpProtocol


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/<pid>/io")
def test_a_small_response_is_one_write_where_uvicorn_makes_two(
    server: tuple[str, int, int], conn: _Reader
) -> None:
    name, _port, pid = server
    conn.send(_get("/small"))
    conn.response()  # the connection is set up
    before = _writes(pid)
    for _ in range(200):
        conn.send(_get("/small"))
        assert conn.response() == (b"HTTP/1.1 200 OK", b"hello")
    per_response = (_writes(pid) - before) / 200
    assert per_response == pytest.approx(1.0 if name == "ours" else 2.0, abs=0.05), name


def test_the_header_block_is_not_held_back_by_a_slow_body(conn: _Reader) -> None:
    """The body comes 0.5 s after the header block; the header block is there long before."""
    sent = time.monotonic()
    conn.send(_get("/slow-body"))
    status, headers = conn.head()
    assert time.monotonic() - sent < 0.3
    assert (status, headers[b"content-length"]) == (b"HTTP/1.1 200 OK", b"4")
    assert conn.exactly(4) == b"late"


def test_a_streamed_response_s_first_chunk_is_not_held_back(conn: _Reader) -> None:
    sent = time.monotonic()
    conn.send(_get("/stream"))
    _status, headers = conn.head()
    assert headers[b"transfer-encoding"] == b"chunked"
    assert conn.until(b"first\r\n") == b"5\r\nfirst\r\n"
    assert time.monotonic() - sent < 0.3
    assert conn.until(b"0\r\n\r\n") == b"4\r\nlast\r\n0\r\n\r\n"


def test_100_continue_then_the_answer(conn: _Reader) -> None:
    request = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    conn.send(request.encode())
    assert conn.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(b"abcde")
    assert conn.response() == (b"HTTP/1.1 200 OK", b"abcde")


def test_pipelined_requests_are_answered_in_order(conn: _Reader) -> None:
    post = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
    conn.send(_get("/small") + post + _get("/nothing") + _get("/small"))
    assert [conn.response() for _ in range(4)] == [
        (b"HTTP/1.1 200 OK", b"hello"),
        (b"HTTP/1.1 200 OK", b"xyz"),
        (b"HTTP/1.1 404 Not Found", b""),
        (b"HTTP/1.1 200 OK", b"hello"),
    ]


def test_head_has_no_body_and_the_connection_goes_on(conn: _Reader) -> None:
    conn.send(b"HEAD /small HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers = conn.head()
    assert (status, headers[b"content-length"]) == (b"HTTP/1.1 200 OK", b"5")
    conn.send(_get("/small"))
    assert conn.response() == (b"HTTP/1.1 200 OK", b"hello")


def test_connection_close_sends_the_answer_then_closes(conn: _Reader) -> None:
    conn.send(_get("/small", "Connection: close"))
    assert conn.response() == (b"HTTP/1.1 200 OK", b"hello")
    with pytest.raises(EOFError):
        conn.exactly(1)


def test_a_malformed_request_gets_400_and_the_connection_closes(conn: _Reader) -> None:
    conn.send(b"NOT HTTP AT ALL\r\n\r\n")
    status, _body = conn.response()
    assert status == b"HTTP/1.1 400 Bad Request"
    with pytest.raises(EOFError):
        conn.exactly(1)
