"""The server's REST API as the desktop uses it (httpx). No Qt.

Every failure becomes an ApiError whose message a person can read: "That name is taken",
"Wrong username or password", "Cannot reach 192.168.1.5:8080" — never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from gochat.desktop.state import Room, User

DEFAULT_PORT = 8080


class ApiError(Exception):
    """A request failed. ``field`` names the input at fault (for showing the message beside it)."""

    def __init__(self, message: str, *, field: str | None = None, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.code = code


def normalise_address(address: str) -> str:
    """What a person typed ("192.168.1.5", "host:8080", "http://host:8080/") as a base URL."""
    text = address.strip()
    if not text:
        raise ApiError("Type the server's address, for example 192.168.1.5:8080.", field="server")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(f"{address.strip()} is not a server address.", field="server")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ApiError(f"{address.strip()} has an invalid port.", field="server") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"


def display_address(base_url: str) -> str:
    return base_url.split("://", 1)[1]


@dataclass(frozen=True, slots=True)
class Login:
    token: str
    user: User


_FRIENDLY = {
    ("register", 409): ("That name is taken.", "username"),
    ("login", 401): ("Wrong username or password.", "password"),
    ("create_room", 409): ("A room with that name exists already.", "name"),
}


class RestApi:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.token: str | None = None
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, action: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise ApiError(f"{display_address(self.base_url)} did not answer in time.", field="server") from None
        except httpx.TransportError:
            raise ApiError(f"Cannot reach {display_address(self.base_url)}.", field="server") from None
        if response.status_code >= 400:
            raise self._error(action, response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _error(self, action: str, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        friendly = _FRIENDLY.get((action, response.status_code))
        field: str | None
        if friendly is not None:
            message, field = friendly
        else:
            message = str(body.get("message") or f"The server answered {response.status_code}.")
            field = str(body["field"]) if body.get("field") else None
        return ApiError(message, field=field, status=response.status_code, code=str(body.get("error", "")))

    async def register(self, username: str, password: str) -> User:
        data = await self._call("register", "POST", "/api/register", json={"username": username, "password": password})
        return User.from_wire(data)

    async def login(self, username: str, password: str) -> Login:
        data = await self._call("login", "POST", "/api/login", json={"username": username, "password": password})
        self.token = str(data["token"])
        return Login(self.token, User.from_wire(data["user"]))

    async def logout(self) -> None:
        try:
            await self._call("logout", "POST", "/api/logout")
        finally:
            self.token = None

    async def rooms(self) -> list[Room]:
        return [Room.from_wire(r) for r in await self._call("rooms", "GET", "/api/rooms")]

    async def create_room(self, name: str) -> Room:
        return Room.from_wire(await self._call("create_room", "POST", "/api/rooms", json={"name": name}))

    async def history(self, room_id: int, *, before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        page: list[dict[str, Any]] = await self._call("history", "GET", f"/api/rooms/{room_id}/messages", params=params)
        return page

    async def mark_read(self, room_id: int, last_read_id: int) -> None:
        """Move the read marker forward (the server keeps it, so counts follow the user)."""
        await self._call("mark_read", "POST", f"/api/rooms/{room_id}/read", json={"lastReadId": last_read_id})
