"""A stand-in upstream that misbehaves on purpose, down to the bytes.

A real HTTP/1.1 server on 127.0.0.1, in a thread with its own event loop,
written on raw sockets so it can do what a well-behaved server library
will not: cut a connection in the middle of a body, promise more bytes than
it sends, or send a body that never ends. `answer(path)` says what a
healthy upstream would answer; `fault(path, attempt)` says how to
misbehave instead (None: answer properly). Every request is logged with
the time it arrived.
"""

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Fault:
    """How to misbehave: one of the kinds below, with an answer where it has one."""

    kind: str  # "answer", "timeout", "reset", "truncate", "huge_length", "huge_stream"
    answer: Answer | None = None


Answers = Callable[[str], Answer]
Faults = Callable[[str, int], Fault | None]


class MisbehavingUpstream:
    def __init__(self, answer: Answers, fault: Faults, *, stall: float = 2.0) -> None:
        self._answer = answer
        self._fault = fault
        self._stall = stall  # how long a "timeout" keeps the client waiting
        self.log: list[tuple[float, str]] = []  # (time.time(), path with query)
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = ""

    def __enter__(self) -> "MisbehavingUpstream":
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the misbehaving upstream did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def paths(self) -> list[str]:
        with self._lock:
            return [path for _, path in self.log]

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                with self._lock:
                    self.log.append((time.time(), target))
                    attempt = self._attempts.get(target, 0) + 1
                    self._attempts[target] = attempt
                fault = self._fault(target, attempt)
                if fault is None:
                    await _send(writer, self._answer(target))
                    continue
                if fault.kind == "answer" and fault.answer is not None:
                    await _send(writer, fault.answer)
                    continue
                await self._misbehave(fault.kind, target, writer)
                return
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _misbehave(
        self, kind: str, target: str, writer: asyncio.StreamWriter
    ) -> None:
        """A fault that leaves the connection unusable; the caller closes it."""
        if kind == "timeout":
            await asyncio.sleep(self._stall)
        elif kind in ("reset", "truncate"):
            body = self._answer(target).payload()
            writer.write(_head(200, len(body), {}))
            writer.write(body[: len(body) // 2])
            await writer.drain()
            if kind == "reset":
                sock = writer.get_extra_info("socket")
                # Linger 0: closing sends a TCP reset instead of a FIN.
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        elif kind == "huge_length":
            writer.write(_head(200, 64 * 2**20, {}))
            writer.write(b'{"info": ')
            await writer.drain()
        elif kind == "huge_stream":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"[" + b" " * (64 * 1024 - 1)
            for _ in range(64):  # 4 MiB, then stop whatever happened
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
                chunk = b" " * len(chunk)
        else:
            raise ValueError(f"unknown fault {kind!r}")


def _head(status: int, length: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines.append(f"Content-Length: {length}")
    if not any(name.lower() == "content-type" for name in headers):
        lines.append("Content-Type: application/json")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _send(writer: asyncio.StreamWriter, answer: Answer) -> None:
    body = answer.payload()
    writer.write(_head(answer.status, len(body), answer.headers) + body)
    await writer.drain()
