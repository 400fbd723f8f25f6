"""A cap on REST request bodies in size and time, checked before the app reads them (pure ASGI,
no buffering beyond the cap).

A declared Content-Length over the cap is refused before a byte of the body is read; a chunked
body is counted as it arrives and refused the moment it passes the cap. Either way the answer
is 413 with the JSON error body and ``Connection: close``, so the server stops reading the rest
(uvicorn closes the connection once the answer is sent). A body within the cap is read whole
(at most the cap) and handed to the app as one message, which is what every route does anyway.

A body that has not fully arrived within ``timeout`` seconds of its headers (a client that
sends half a request and waits) is answered 408 and the connection closed: the headers were
complete, so the HTTP protocol's header timeout no longer watches it.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gochat.protocol import ErrorCode


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max_bytes:
            await self._too_large(send)
            return
        try:
            async with asyncio.timeout(self._timeout):
                request = await self._read_body(receive)
        except TimeoutError:
            message = f"The request body did not arrive within {self._timeout:g} seconds."
            await _refuse(send, 408, "http_error", message)
            return
        if request is None:
            await self._too_large(send)
            return
        await self._app(scope, _replay(request, receive), send)

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message (or the disconnect that cut it short); None when it
        passes the cap."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                return message
            body += message.get("body", b"")
            if len(body) > self._max_bytes:
                return None
            if not message.get("more_body", False):
                return {"type": "http.request", "body": bytes(body), "more_body": False}

    async def _too_large(self, send: Send) -> None:
        message = f"The request body is larger than the server accepts ({self._max_bytes} bytes)."
        await _refuse(send, 413, ErrorCode.TOO_LARGE, message)


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps({"error": code, "message": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        # The rest of the body is never read: the connection cannot carry another request.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser has already refused a malformed one
    return None


def _replay(first: Message, receive: Receive) -> Receive:
    """``receive`` that gives ``first`` once, then what the server gives (a disconnect)."""
    pending: list[Message] = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
