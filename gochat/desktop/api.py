"""The server's REST API as the desktop uses it (httpx). No Qt.

Every failure becomes an ApiError whose message a person can read: "That name is taken",
"Wrong username or password", "Cannot reach 192.168.1.5:8080" — never a traceback.

Over https a server is first verified the ordinary way (a CA vouches for its certificate); one
whose certificate no CA vouches for (a hosted gochat server's self-signed one) is pinned by its
SHA-256 fingerprint instead (gochat/desktop/tls.py): ``check_server`` reports what it showed, and
until that is trusted (``pin.trust``) nothing but the health check is sent to it.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

from gochat.desktop.sockets import closing_transport
from gochat.desktop.tls import CertificateChanged, Pin, certificate_problem, pinning_context, verifying_context
from gochat.protocol import ROOMS_DEFAULT_LIMIT, SEARCH_PAGE, DirectConversation, Message, Person, Room, RoomSort, User

DEFAULT_PORT = 8080  # a bare host ("192.168.1.5"): the port gochat serves on by default
SCHEME_PORTS = {"http": 80, "https": 443}  # a scheme without a port means the scheme's own port
DEFAULT_TIMEOUT = 10.0  # seconds a server may take to accept a connection, and then to answer
EXAMPLE = "for example 192.168.1.5:8080 or chat.example.com"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
# One label of a host name: letters (any script: the name may be internationalised), digits and
# inner hyphens.
_LABEL = re.compile(r"^[^\W_]([\w-]{0,61}[^\W_])?$")


class ApiError(Exception):
    """A request failed. ``field`` names the input at fault (for showing the message beside it)."""

    def __init__(
        self, message: str, *, field: str | None = None, status: int | None = None, code: str = "", failure: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.code = code
        # How the connection failed, when it did (one of the *_FAILURE names below), else "".
        self.failure = failure


# How a connection failed, for the caller that tries another scheme (ApiError.failure).
NOT_TLS = "not_tls"  # asked for https, the server answered something else (plain HTTP)
HUNG_UP = "hung_up"  # it closed the connection without an answer (a TLS-only server does to plain HTTP)
NOT_VERIFIED = "not_verified"  # no CA vouches for its certificate: a fingerprint must
CHANGED = "certificate_changed"  # its certificate is not the one trusted for it
UNTRUSTED = "untrusted"  # the person did not trust its certificate
CLOSED = "closed"  # this client was closed (logged out) before the request: nothing was sent


class CertificateRefused(ApiError):
    """The server showed another certificate than the one trusted for it (``expected``, ``seen``)."""

    def __init__(self, message: str, expected: str, seen: str) -> None:
        super().__init__(message, field="server", failure=CHANGED)
        self.expected = expected
        self.seen = seen


def _bad_address(message: str) -> ApiError:
    return ApiError(message, field="server")


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """A server address as a person typed it, understood: ``host`` is as it goes in a URL
    (an IPv6 address in brackets)."""

    scheme: str
    host: str
    port: int
    # Typed by the person ("https://…"), so obeyed; False for a bare "host[:port]", whose
    # ``scheme`` is only the fallback (see AccountController: https is tried first).
    scheme_typed: bool = True

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def server(self) -> str:
        """``host:port``: what certificates are trusted under, and what the app shows."""
        return f"{self.host}:{self.port}"

    def with_scheme(self, scheme: str) -> ServerAddress:
        return ServerAddress(scheme, self.host, self.port, scheme_typed=True)


def parse_address(address: str) -> ServerAddress:
    """Read a server address the way people write them: ``host``, ``host:port``,
    ``http(s)://host[:port][/]``, IPv6 in brackets (``[::1]:8080``) or bare (``::1``).

    A bare host means gochat's port 8080; with a scheme and no port, the scheme's own port
    (80 for http, 443 for https) is meant. Anything else raises an ApiError that says what is
    wrong with it, before anything is sent anywhere."""
    text = address.strip()
    if not text:
        raise _bad_address(f"Type the server's address, {EXAMPLE}.")
    if any(character.isspace() for character in text):
        raise _bad_address(f"“{text}” is not a server address: an address has no spaces ({EXAMPLE}).")
    scheme = ""
    rest = text
    if match := _SCHEME.match(text):
        scheme, rest = match[1].lower(), match[2]
        if scheme not in SCHEME_PORTS:
            raise _bad_address(f"gochat servers are reached over http:// or https://, not {scheme}://.")
    elif "://" in text:
        raise _bad_address(f"“{text}” is not a server address ({EXAMPLE}).")
    rest, _slash, path = rest.partition("/")
    if path:
        raise _bad_address(f"Type only the server's address, without “/{path}” after it ({EXAMPLE}).")
    if "@" in rest:
        raise _bad_address(f"Type only the server's address, without “{rest.partition('@')[0]}@” ({EXAMPLE}).")
    if not rest:
        raise _bad_address(f"“{text}” has no server name or IP address after {scheme}://.")
    host, port_text = _split_host_port(rest)
    port = SCHEME_PORTS[scheme] if scheme else DEFAULT_PORT
    if port_text is not None:
        if not port_text:
            raise _bad_address(f"“{text}” needs a port number after the colon, or no colon.")
        if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise _bad_address(f"The port must be a number from 1 to 65535, not {port_text}.")
        port = int(port_text)
    # Names ignore case; shown in lower case.
    return ServerAddress(scheme or "http", host.lower(), port, scheme_typed=bool(scheme))


def _split_host_port(rest: str) -> tuple[str, str | None]:
    """``rest`` (no scheme, no path) as (host as it goes in a URL, port text or None)."""
    if rest.startswith("["):
        inside, bracket, after = rest[1:].partition("]")
        if not bracket:
            raise _bad_address(f"The IPv6 address needs its closing bracket: [{inside}]:8080.")
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            raise _bad_address(f"{inside} in brackets is not an IPv6 address.") from None
        if after and not after.startswith(":"):
            raise _bad_address(f"After the IPv6 address in brackets comes :port, not “{after}”.")
        return f"[{inside}]", (after[1:] if after else None)
    if rest.count(":") > 1:
        try:
            ipaddress.IPv6Address(rest)
        except ValueError:
            raise _bad_address("Put an IPv6 address in brackets, with the port after them: [fe80::1]:9000.") from None
        return f"[{rest}]", None
    host, colon, port_text = rest.partition(":")
    _check_host(host)
    return host, (port_text if colon else None)


def _check_host(host: str) -> None:
    if not host:
        raise _bad_address(f"The address needs the server's name or IP address before the port ({EXAMPLE}).")
    if all(character.isdigit() or character == "." for character in host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _bad_address(f"{host} is not an IP address: it has four numbers from 0 to 255.") from None
        return
    name = host.removesuffix(".")
    for character in name:
        if not (character.isalnum() or character in "-."):
            raise _bad_address(f"“{character}” cannot be part of a server address ({EXAMPLE}).")
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise _bad_address(f"{host} is not a server name ({EXAMPLE}).")


def display_address(base_url: str) -> str:
    return base_url.split("://", 1)[1]


def _seconds(timeout: float) -> str:
    return f"{timeout:g} s"


@dataclass(frozen=True, slots=True)
class RoomPage:
    """One page of the room list, and how many rooms match in all (the server's X-Total-Count)."""

    rooms: list[Room]
    total: int


@dataclass(frozen=True, slots=True)
class Login:
    token: str
    user: User


_FRIENDLY: dict[tuple[str, int], tuple[str, str | None]] = {
    ("register", 409): ("That name is taken.", "username"),
    ("login", 401): ("Wrong username or password.", "password"),
    ("create_room", 409): ("A room with that name exists already.", "name"),
    ("edit_message", 403): ("Only its author can edit a message.", None),
    ("edit_message", 404): ("That message is gone: it was deleted.", None),
    ("delete_message", 403): ("You may not delete that message.", None),
    ("delete_message", 404): ("That message is gone already.", None),
    # The same words whether the room is gone or another pair's direct room (its existence never leaks).
    ("search", 404): ("That room is not there, or it is not yours to read: nothing to search in it.", "room"),
}
# Where the server says more than the friendly words (a 409 at registration is a name taken, or
# one that looks too much like an existing one: "taken" would be wrong for a name nobody has),
# its own message is shown, beside the friendly field; the friendly words are the fallback.
_SERVER_WORDS_FIRST = frozenset({("register", 409)})
# Bad gateway, service unavailable, gateway timeout without a gochat server's words: what a proxy
# in front of the servers (docs/deploy.md) answers when none of them does.
_NO_SERVER_BEHIND = frozenset({502, 503, 504})


class RestApi:
    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, trusted_fingerprint: str = "") -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.token: str | None = None
        # The database behind this address, from its health check ("" from servers that do not say).
        self.server_id = ""
        # https whose certificate no CA vouches for: the fingerprint it must show (set by
        # check_server; expected from the start when one was trusted before).
        self.pin: Pin | None = None
        self._trusted_fingerprint = trusted_fingerprint
        self.ssl_context: ssl.SSLContext | None = verifying_context() if base_url.startswith("https://") else None
        self._http = self._client()

    def _client(self) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool = self.ssl_context if self.ssl_context is not None else True
        return httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, transport=closing_transport(verify))

    async def _pin_instead(self) -> None:
        """No CA vouches for the certificate: from now on it is trusted by fingerprint only."""
        self.pin = Pin(self._trusted_fingerprint or None)
        self.ssl_context = pinning_context(self.pin)
        await self._http.aclose()
        self._http = self._client()

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def address(self) -> str:
        return display_address(self.base_url)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a failure to connect or to be answered in time, said in words."""
        if self.pin is not None and not self.pin.trusted and path != "/api/health":
            # Never a password or a token to a certificate nobody trusted.
            raise ApiError(f"{self.address} is not trusted yet: nothing was sent.", field="server")
        if self._http.is_closed:
            # A task of a login that ended meanwhile (logged out, the server said the token is
            # no more): httpx would raise a bare RuntimeError.
            raise ApiError(f"Not sent: logged out of {self.address}.", field="server", failure=CLOSED)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        waited = _seconds(self.timeout)
        try:
            return await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.ConnectTimeout:
            raise ApiError(f"{self.address} did not accept the connection within {waited}.", field="server") from None
        except httpx.ReadTimeout:
            raise ApiError(
                f"{self.address} accepted the connection but did not answer within {waited}.", field="server"
            ) from None
        except httpx.TimeoutException:
            raise ApiError(f"{self.address} did not answer within {waited}.", field="server") from None
        except httpx.RemoteProtocolError:
            # Something listens there, but it does not speak HTTP (or hung up without a word).
            raise ApiError(
                f"That is not a gochat server: {self.address} closed the connection without an answer.",
                field="server",
                failure=HUNG_UP,
            ) from None
        except httpx.TransportError as error:
            problem = certificate_problem(error)
            if isinstance(problem, CertificateChanged):
                raise CertificateRefused(
                    f"{self.address} showed a different certificate from the one you trusted for it: it may "
                    "be someone else pretending to be that server. Nothing was sent.",
                    problem.expected,
                    problem.seen,
                ) from None
            if problem is not None:
                raise ApiError(
                    f"No certificate authority vouches for {self.address}.", field="server", failure=NOT_VERIFIED
                ) from None
            if _unknown_name(error):
                host = self.address.rpartition(":")[0]
                raise ApiError(f"Cannot reach {self.address}: the name {host} is not known.", field="server") from None
            if self.base_url.startswith("https://") and _not_tls(error):
                raise ApiError(
                    f"{self.address} does not answer HTTPS: if it is a plain gochat server, "
                    f"type http://{self.address} (or just {self.address}).",
                    field="server",
                    failure=NOT_TLS,
                ) from None
            raise ApiError(f"Cannot reach {self.address}.", field="server") from None

    async def _call(self, action: str, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
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
            if (action, response.status_code) in _SERVER_WORDS_FIRST and body.get("message"):
                message = str(body["message"])
        elif not body.get("message") and response.status_code in _NO_SERVER_BEHIND:
            # A load balancer's own answer (nginx with every instance down or stopping): no
            # gochat words in it, and nothing wrong with what the user asked.
            message = f"No server is answering behind this address right now ({response.status_code}); "
            message += "try again in a moment."
            field = None
        else:
            message = str(body.get("message") or f"The server answered {response.status_code}.")
            field = str(body["field"]) if body.get("field") else None
        return ApiError(message, field=field, status=response.status_code, code=str(body.get("error", "")))

    async def check_server(self) -> dict[str, Any]:
        """Ask ``GET /api/health`` whether a gochat server answers at this address: its report,
        or an ApiError saying what answered instead. A gochat server whose storage is down
        (503) is still a gochat server: logging in will say what is wrong.

        Over https, a certificate no CA vouches for is pinned instead (``pin``): its fingerprint is
        ``pin.seen`` afterwards, trusted already when it was the one trusted before."""
        try:
            response = await self._request("GET", "/api/health")
        except ApiError as error:
            if error.failure != NOT_VERIFIED or self.pin is not None:
                raise
            await self._pin_instead()
            response = await self._request("GET", "/api/health")
        try:
            report = response.json()
        except ValueError:
            report = None
        if isinstance(report, dict) and "protocolVersion" in report:
            self.server_id = str(report.get("databaseId") or "")[:64]
            return report
        raise ApiError(self._not_gochat(response), field="server", status=response.status_code)

    def _not_gochat(self, response: httpx.Response) -> str:
        try:
            status = f"{response.status_code} {HTTPStatus(response.status_code).phrase}"
        except ValueError:
            status = str(response.status_code)
        if response.status_code >= 400:
            what = status  # the usual case: a web server with no /api/health
        elif "html" in response.headers.get("content-type", ""):
            what = "with a web page"
        else:
            what = f"{status}, but not as gochat does"
        return f"That is not a gochat server: {self.address} answered {what}."

    async def register(self, username: str, password: str) -> User:
        data = await self._call("register", "POST", "/api/register", json={"username": username, "password": password})
        return User.from_wire(data)

    async def login(self, username: str, password: str) -> Login:
        data = await self._call("login", "POST", "/api/login", json={"username": username, "password": password})
        self.token = str(data["token"])
        return Login(self.token, User.from_wire(data["user"]))

    async def logout(self, *, everywhere: bool = False) -> None:
        """End this login; ``everywhere``: every login of this user, on every device."""
        try:
            await self._call("logout", "POST", "/api/logout", json={"everywhere": True} if everywhere else None)
        finally:
            self.token = None

    async def rooms(
        self,
        *,
        query: str = "",
        sort: RoomSort = RoomSort.CREATED,
        offset: int = 0,
        limit: int = ROOMS_DEFAULT_LIMIT,
        mine: bool = False,
    ) -> RoomPage:
        """One page of the room list: ``query`` in the name (ignoring case), in ``sort`` order,
        ``limit`` rooms from ``offset``; ``mine``: only the user's rooms (those with a marker)."""
        params: dict[str, str | int] = {"sort": sort.value, "offset": offset, "limit": limit}
        if query:
            params["q"] = query
        if mine:
            params["mine"] = "true"
        response = await self._request("GET", "/api/rooms", params=params)
        if response.status_code >= 400:
            raise self._error("rooms", response)
        rooms = [Room.from_wire(r) for r in response.json()]
        try:
            total = int(response.headers["X-Total-Count"])
        except (KeyError, ValueError):
            total = offset + len(rooms)  # a server from before pages: the whole list at once
        return RoomPage(rooms, total)

    async def create_room(self, name: str) -> Room:
        return Room.from_wire(await self._call("create_room", "POST", "/api/rooms", json={"name": name}))

    async def room(self, room_id: int) -> Room:
        """One room by id (a room met outside the room list: a search result's, a mention's)."""
        return Room.from_wire(await self._call("room", "GET", f"/api/rooms/{room_id}"))

    async def history(
        self, room_id: int, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> list[Message]:
        """A page of a room's history, oldest first: the newest, the one before ``before``, or
        the first after ``after``."""
        params: dict[str, int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        if after is not None:
            params["after"] = after
        page = await self._call("history", "GET", f"/api/rooms/{room_id}/messages", params=params)
        return [Message.from_wire(message) for message in page]

    async def search(self, query: str, *, room_id: int | None = None, before: int | None = None) -> list[Message]:
        """Messages containing ``query`` (ignoring case), newest first, SEARCH_PAGE a page: in
        every room the user may read, or in ``room_id`` only; ``before``: the page older than
        that id (the last one of the page before)."""
        params: dict[str, str | int] = {"q": query}
        if room_id is not None:
            params["roomId"] = room_id
        if before is not None:
            params["before"] = before
        page = await self._call("search", "GET", "/api/search", params=params)
        return [Message.from_wire(message) for message in page][:SEARCH_PAGE]

    async def mark_read(self, room_id: int, last_read_id: int) -> None:
        """Move the read marker forward (the server keeps it, so counts follow the user)."""
        await self._call("mark_read", "POST", f"/api/rooms/{room_id}/read", json={"lastReadId": last_read_id})

    async def is_admin(self) -> bool:
        """Whether the user is a server admin (``GET /api/me``: ``admin``; false from servers
        that do not say)."""
        data = await self._call("me", "GET", "/api/me")
        return isinstance(data, dict) and data.get("admin") is True

    async def edit_message(self, room_id: int, message_id: int, content: str) -> Message:
        """Change one's own message's text: the message as it now is (``editedAt``, a new rev)."""
        path = f"/api/rooms/{room_id}/messages/{message_id}"
        return Message.from_wire(await self._call("edit_message", "PATCH", path, json={"content": content}))

    async def delete_message(self, room_id: int, message_id: int) -> None:
        """Delete a message (one's own; anyone's for the room's creator or a server admin)."""
        await self._call("delete_message", "DELETE", f"/api/rooms/{room_id}/messages/{message_id}")

    async def people(self, query: str) -> list[Person]:
        """``GET /api/users?q=``: people whose name contains ``query`` (the exact name first)."""
        found = await self._call("people", "GET", "/api/users", params={"q": query})
        return [Person.from_wire(person) for person in found]

    async def direct_rooms(self) -> list[DirectConversation]:
        """``GET /api/dms``: the user's direct rooms, the most recent activity first."""
        return [DirectConversation.from_wire(c) for c in await self._call("direct_rooms", "GET", "/api/dms")]

    async def start_direct(self, username: str) -> Room:
        """``POST /api/dms``: the direct room with ``username`` (made the first time either asks)."""
        return Room.from_wire(await self._call("start_direct", "POST", "/api/dms", json={"username": username}))


def _not_tls(error: httpx.TransportError) -> bool:
    """Something answered, but not with TLS (an http:// server asked for https://)."""
    cause = error.__cause__ or error.__context__
    text = f"{error} {cause}".lower()
    return isinstance(cause, ssl.SSLError) or "wrong version number" in text or "ssl" in text


def _unknown_name(error: httpx.TransportError) -> bool:
    """The host name did not resolve (the resolver's words differ between C libraries)."""
    text = str(error).lower()
    return any(
        words in text
        for words in ("name or service not known", "nodename nor servname", "name resolution", "no address associated")
    )
