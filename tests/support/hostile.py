"""Hostile servers on loopback for the reliability tests: raw HTTP, raw WebSocket, TLS.

Every server is a real socket on 127.0.0.1 with an OS-chosen port. The rig
writes raw bytes, so it can do what no well-behaved framework would: drip a
status line one byte a second, stream a 100 MB body or a 10 GB gzip bomb
(generated lazily from one compressed block, never materialised), send a
50 MB WebSocket frame in 64 KB pieces, or accept a request and never answer.

Also here: certificates made with ``cryptography`` (a CA, a leaf that expired
yesterday, a self-signed leaf) and :class:`PeakMemory`, which measures the
process's peak RSS growth over a block (Linux ``/proc/self/status`` VmHWM,
reset through ``/proc/self/clear_refs``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import ssl
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MB = 1_000_000
CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024


# ---------------------------------------------------------------------------
# A raw HTTP/1.1 server


@dataclass(frozen=True, slots=True)
class Request:
    """The head (and small body) of one request the rig read."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Return the next request on the connection, or None when the client went away."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    try:
        body = await reader.readexactly(length) if length else b""
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return Request(method, path, headers, body)


def head(status: int, headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
    """Return an HTTP/1.1 status line and headers (Connection: close is always added)."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in {**(headers or {}), "Connection": "close"}.items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write `data` and wait for the transport's buffer to drain (backpressure)."""
    writer.write(data)
    await writer.drain()


def json_answer(body: object, status: int = 200) -> bytes:
    """Return a complete JSON response."""
    raw = json.dumps(body).encode()
    return head(status, {"Content-Type": "application/json", "Content-Length": str(len(raw))}) + raw


@dataclass
class RawServer:
    """A loopback TCP server (optionally TLS) that runs `behaviour` for every request."""

    behaviour: Behaviour
    ssl_context: ssl.SSLContext | None = None
    port: int = 0
    connections: int = 0
    _server: asyncio.Server | None = None
    _closing: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> RawServer:
        """Listen on 127.0.0.1 (port chosen by the OS); return self."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, ssl=self.ssl_context, limit=MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def http(self) -> str:
        """Return the server's base URL (https when it speaks TLS)."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        """Return the server's WebSocket base URL."""
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await read_request(reader)
            if request is not None:
                await self.behaviour(request, reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the probe gave up on us: that is the point
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # close() ended this hung connection; asyncio's stream callback would log a
            # cancelled handler task as an error, so it ends normally instead.
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def close(self) -> None:
        """Stop listening and end every connection (a hung behaviour included)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


# ---------------------------------------------------------------------------
# Hostile HTTP answers (each a Behaviour, or a factory of one)


async def forever() -> None:
    """Wait until cancelled."""
    await asyncio.Event().wait()


async def silent(_req: Request, reader: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
    """Read the request, then never answer and never close."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(CHUNK):
            pass  # the client may send more; keep reading, never answer
    await forever()


def huge_body(total: int = 100 * MB, *, declare_length: bool = True) -> Behaviour:
    """Return a behaviour answering 200 with `total` bytes of JSON whitespace, streamed."""
    chunk = b" " * CHUNK

    async def answer(_req: Request, _r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        headers = {"Content-Type": "application/json"}
        if declare_length:
            headers["Content-Length"] = str(total)
        await send(w, head(200, headers))
        sent = 0
        while sent < total:
            piece = chunk[: total - sent]
            await send(w, piece)
            sent += len(piece)

    return answer


def drip(data: bytes, every: float = 1.0) -> Behaviour:
    """Return a behaviour that sends `data` one byte every `every` seconds, then waits."""

    async def answer(_req: Request, _r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for i in range(len(data)):
            await send(w, data[i : i + 1])
            await asyncio.sleep(every)
        await forever()

    return answer


def drip_body(prefix: bytes = b'{"page_details": {', every: float = 1.0) -> Behaviour:
    """Return a behaviour sending 200 headers at once, then the body one byte a second."""

    async def answer(req: Request, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await send(w, head(200, {"Content-Type": "application/json"}))
        await drip(prefix + b" " * 10_000, every)(req, r, w)

    return answer


def _bomb_block() -> bytes:
    """Return raw deflate of 1 MiB of zeros, full-flushed so it can be repeated verbatim."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again  # a full flush resets the state: blocks are identical
    return block


BOMB_BLOCK = _bomb_block()
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def gzip_bomb(expanded: int = 10 * 1024**3) -> Behaviour:
    """Return a behaviour answering 200, Content-Encoding gzip, `expanded` bytes of zeros.

    About 1 KB goes on the wire per MiB of zeros (10 GiB is ~10 MB sent), made
    from one precomputed block; the stream has no trailer, as a client that
    reads it to the end has already lost.
    """
    blocks = expanded // (1 << 20)

    async def answer(_req: Request, _r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        await send(w, head(200, headers) + GZIP_HEADER)
        batch = BOMB_BLOCK * 64
        for _ in range(blocks // 64):
            await send(w, batch)

    return answer


def fixed(raw: bytes) -> Behaviour:
    """Return a behaviour that sends exactly `raw` (a whole response), then closes."""

    async def answer(_req: Request, _r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await send(w, raw)

    return answer


def body_answer(body: bytes, status: int = 200) -> Behaviour:
    """Return a behaviour answering `status` with `body` as application/json."""
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    return fixed(head(status, headers) + body)


def nested(depth: int = 10_000) -> bytes:
    """Return a JSON array nested `depth` deep (valid JSON, 2 × depth bytes)."""
    return b"[" * depth + b"]" * depth


INVALID_UTF8 = b"\xff\xfe\xc0\xaf\xed\xa0\x80"


# ---------------------------------------------------------------------------
# A fake transcription API whose job reads are hostile


def transcription_api(job_read: Behaviour, job_id: str = "hostile-job") -> Behaviour:
    """Return a behaviour that uploads and submits normally and answers job reads hostilely.

    ``POST /v2/upload`` and ``POST /v2/transcript`` answer as the API does;
    every ``GET /v2/transcript/{id}`` (the probe's polls and its cleanup's
    read-backs) runs `job_read`; DELETE answers with the scrubbed object. The
    job's id is `job_id`, whatever it holds.
    """

    async def answer(req: Request, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if req.method == "POST" and req.path == "/v2/upload":
            await send(w, json_answer({"upload_url": "https://cdn.invalid/upload/hostile-1"}))
        elif req.method == "POST" and req.path == "/v2/transcript":
            await send(w, json_answer({"id": job_id, "status": "queued"}))
        elif req.method == "DELETE":
            scrubbed = {"id": job_id, "status": "completed", "text": "Deleted by user."}
            await send(w, json_answer({**scrubbed, "audio_url": "http://deleted_by_user"}))
        elif req.method == "GET" and req.path.startswith("/v2/transcript/"):
            await job_read(req, r, w)
        else:
            await send(w, json_answer({"page_details": {}, "transcripts": []}))

    return answer


# ---------------------------------------------------------------------------
# A raw WebSocket server (RFC 6455, server side)

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


def frame_head(opcode: int, length: int) -> bytes:
    """Return the header of one unmasked final frame carrying `length` bytes."""
    first = 0x80 | opcode
    if length < 126:
        return bytes([first, length])
    if length < 1 << 16:
        return bytes([first, 126]) + struct.pack("!H", length)
    return bytes([first, 127]) + struct.pack("!Q", length)


def frame(opcode: int, payload: bytes) -> bytes:
    """Return one unmasked final frame."""
    return frame_head(opcode, len(payload)) + payload


def text(obj: object) -> bytes:
    """Return a text frame carrying `obj` as JSON."""
    return frame(TEXT, json.dumps(obj).encode())


BEGIN = text({"type": "Begin", "id": "hostile-session", "expires_at": 1})


def websocket(session: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> Behaviour:
    """Return a behaviour that accepts the upgrade, discards what the client sends,
    and runs `session` with the writer."""

    async def answer(req: Request, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        key = req.headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        await send(
            w,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode(),
        )

        async def discard() -> None:
            with contextlib.suppress(ConnectionError):
                while await r.read(CHUNK):
                    pass

        sink = asyncio.create_task(discard())
        try:
            await session(w)
            await forever()
        finally:
            sink.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sink

    return answer


async def ws_flood(w: asyncio.StreamWriter) -> None:
    """Begin, then partial Turns as fast as the socket takes them, forever."""
    turn = text(
        {
            "type": "Turn",
            "turn_order": 0,
            "transcript": "flood " * 20,
            "end_of_turn": False,
            "turn_is_formatted": False,
            "words": [],
        }
    )
    await send(w, BEGIN)
    batch = turn * 256
    while True:
        await send(w, batch)


def ws_huge_frame(size: int = 50 * MB) -> Callable[[asyncio.StreamWriter], Awaitable[None]]:
    """Return a session that sends Begin, then one `size`-byte text frame in 64 KB pieces."""

    async def session(w: asyncio.StreamWriter) -> None:
        await send(w, BEGIN + frame_head(TEXT, size))
        piece = b"a" * CHUNK
        left = size
        while left > 0:
            await send(w, piece[:left])
            left -= CHUNK

    return session


def ws_frames(*frames: bytes) -> Callable[[asyncio.StreamWriter], Awaitable[None]]:
    """Return a session that sends `frames` and then nothing, never closing."""

    async def session(w: asyncio.StreamWriter) -> None:
        await send(w, b"".join(frames))

    return session


# ---------------------------------------------------------------------------
# Certificates


@dataclass(frozen=True, slots=True)
class Certs:
    """PEM files of a test CA, a leaf it signed that expired, and a self-signed leaf."""

    ca: Path
    expired_cert: Path
    expired_key: Path
    self_signed_cert: Path
    self_signed_key: Path

    def server_context(self, cert: Path, key: Path) -> ssl.SSLContext:
        """Return a server TLS context presenting `cert`."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Return a verifying client context that trusts the test CA (and only it)."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return ctx


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _leaf(
    subject_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def make_certs(directory: Path) -> Certs:
    """Return a CA, a CA-signed leaf for 127.0.0.1 that expired yesterday, and a self-signed one."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sttwatch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    expired_key = ec.generate_private_key(ec.SECP256R1())
    expired = _leaf(
        expired_key, ca_name, ca_key, now - dt.timedelta(days=10), now - dt.timedelta(days=1)
    )
    self_key = ec.generate_private_key(ec.SECP256R1())
    self_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    self_signed = _leaf(
        self_key, self_name, self_key, now - dt.timedelta(days=1), now + dt.timedelta(days=1)
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "expired.pem").write_bytes(expired.public_bytes(pem))
    (directory / "self.pem").write_bytes(self_signed.public_bytes(pem))
    return Certs(
        ca=directory / "ca.pem",
        expired_cert=directory / "expired.pem",
        expired_key=_write_key(directory / "expired.key", expired_key),
        self_signed_cert=directory / "self.pem",
        self_signed_key=_write_key(directory / "self.key", self_key),
    )


# ---------------------------------------------------------------------------
# Memory


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


class PeakMemory:
    """Peak resident-set growth of this process over a ``with`` block, in bytes.

    Entering resets the kernel's high-water mark (``5`` into
    ``/proc/self/clear_refs``) and notes the RSS; leaving reads VmHWM. The
    difference is what the block added at its worst moment, C allocations
    (zlib, OpenSSL, aiohttp's parser) included.
    """

    def __init__(self) -> None:
        self.before = 0
        self.growth = 0

    def __enter__(self) -> PeakMemory:
        Path("/proc/self/clear_refs").write_text("5")
        self.before = _status_kib("VmRSS")
        return self

    def __exit__(
        self,
        _t: type[BaseException] | None,
        _e: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.growth = max(0, _status_kib("VmHWM") - self.before) * 1024
