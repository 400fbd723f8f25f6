"""Security headers on every HTTP response of the REST API (pure ASGI middleware).

Browsers are not gochat's clients, but a browser on the LAN can be pointed at the server: these
keep it from sniffing a JSON body into something it runs, framing a page, leaking the URL in a
Referer, or caching a user's answers. The WebSocket handshake gets none (docs/security.md says why).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# For every response: a JSON answer is never an HTML page, a script or a frame.
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Answers are per user (tokens, unread counts): no cache of any kind keeps them.
NO_STORE = "no-store"
# A JSON answer loads nothing; the API docs pages (--api-docs) load Swagger UI or ReDoc from a CDN,
# so an HTML page keeps only the framing rule.
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"
CSP_HTML = "frame-ancestors 'none'"
# Over TLS only (RFC 6797 §7.2: a browser ignores it over http). A year; no includeSubDomains,
# which would bind every other host of the admin's domain.
HSTS = "max-age=31536000"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                headers.setdefault("Cache-Control", NO_STORE)
                html = headers.get("content-type", "").startswith("text/html")
                headers["Content-Security-Policy"] = CSP_HTML if html else CSP_JSON
                if self.tls:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
