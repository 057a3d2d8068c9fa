"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load generation.

httpx spends more CPU per request than the servers under test do on a hello endpoint; on
2 cores the client would then be what is measured. This one writes pre-built request bytes
and reads `Content-Length` bodies (what uvicorn answers), nothing else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


class HttpError(Exception):
    pass


def build_request(
    method: str, path: str, port: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Response:
    status: int
    body: bytes


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> Response:
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
                break
        if length is None:
            raise HttpError(f"answer without Content-Length: {head[:200]!r}")
        body = await self._reader.readexactly(length) if length else b""
        return Response(status, body)

    def close(self) -> None:
        self._writer.close()


class Pool:
    """Up to `size` keep-alive connections to 127.0.0.1:port; a request waits for one."""

    def __init__(self, port: int, size: int) -> None:
        self._port = port
        self._free: asyncio.Queue[Connection] = asyncio.Queue()
        self._slots = asyncio.Semaphore(size)

    async def send(self, raw: bytes) -> Response:
        async with self._slots:
            conn = self._free.get_nowait() if not self._free.empty() else None
            if conn is not None:
                try:
                    return await self._send_on(conn, raw)
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass  # the server closed an idle keep-alive connection: not sent
            return await self._send_on(await Connection.open(self._port), raw)

    async def _send_on(self, conn: Connection, raw: bytes) -> Response:
        try:
            response = await conn.send(raw)
        except BaseException:
            conn.close()
            raise
        self._free.put_nowait(conn)
        return response

    def close(self) -> None:
        while not self._free.empty():
            self._free.get_nowait().close()
