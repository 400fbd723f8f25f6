"""A cap on REST request bodies, checked before the app reads them (pure ASGI, no buffering
beyond the cap).

A declared Content-Length over the cap is refused before a byte of the body is read; a chunked
body is counted as it arrives and refused the moment it passes the cap. Either way the answer
is 413 with the JSON error body and ``Connection: close``, so the server stops reading the rest
(uvicorn closes the connection once the answer is sent). A body within the cap is read whole
(at most the cap) and handed to the app as one message, which is what every route does anyway.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gochat.protocol import ErrorCode


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max_bytes:
            await self._refuse(send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self._app(scope, _replay(message, receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self._max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        request: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self._app(scope, _replay(request, receive), send)

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps(
            {
                "error": ErrorCode.TOO_LARGE,
                "message": f"The request body is larger than the server accepts ({self._max_bytes} bytes).",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            # The rest of the body is never read: the connection cannot carry another request.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
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
