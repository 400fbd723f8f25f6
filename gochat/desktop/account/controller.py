"""AccountController: logging in, registering and logging out, over the ChatSession.

Reaching a server (``_reach``) is where transport security is decided, before any password:
- an address typed with ``http://`` or ``https://`` is obeyed;
- a bare ``host[:port]`` tries https first and, if the server speaks only plain HTTP, asks the
  person (``ask_clear_text``) before a password goes over the network in clear. A loopback
  address tries plain http first instead: nothing sent to this computer crosses a network, so
  there is nothing to ask, and a plain server's log gets no "Invalid HTTP request" for a TLS
  hello at every login; a TLS-only server there (this app hosting for the LAN) hangs up on
  plain HTTP, and https follows;
- over https, a certificate a CA vouches for is verified the ordinary way; any other is trusted
  by its SHA-256 fingerprint (``KnownServers``): on first use the person is asked
  (``ask_trust``), unless LAN discovery advertised that fingerprint (``expect_fingerprint``);
  a changed one is refused (``certificateRefused``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject, Signal

from gochat.desktop.account.known_servers import KnownServers
from gochat.desktop.api import (
    CHANGED,
    DEFAULT_TIMEOUT,
    HUNG_UP,
    NOT_TLS,
    UNTRUSTED,
    ApiError,
    CertificateRefused,
    Login,
    RestApi,
    ServerAddress,
    parse_address,
)
from gochat.desktop.session import ChatSession
from gochat.desktop.state import LinkState
from gochat.desktop.tls import is_loopback
from gochat.protocol import NAME_TAKEN


async def _refuse_trust(_server: str, _fingerprint: str) -> bool:
    return False  # until the app asks a person: never trusted unseen


async def _refuse_clear_text(_server: str) -> bool:
    return False


class AccountController(QObject):
    """Who is logged in, and getting there.

    Signals:
        busyChanged(busy: bool): a login attempt began (True) or ended (False).
        loginFailed(field: str, message: str): a login or registration failed; ``field`` is the
            form's field at fault ("server", "username" or "password").
        loggedIn(user: User, server: str): logged in, the live connection starting; ``server``
            is the address as shown.
        loggedOut(reason: str): logged out, everything of the login dropped; ``reason`` is ""
            when the user asked, else what ended it (the server logged us out, the token expired).
        accountNotFound(server: str, username: str, password: str): ``login_to_own_server``
            found no such account on the user's own server (creating it is the user's call).
        certificateRefused(server: str, trusted: str, seen: str): ``server`` showed a certificate
            (fingerprint ``seen``) other than the one trusted for it: the login was refused.
    """

    busyChanged = Signal(bool)  # noqa: N815 - Qt naming
    loginFailed = Signal(str, str)  # noqa: N815
    loggedIn = Signal(object, str)  # noqa: N815
    loggedOut = Signal(str)  # noqa: N815
    accountNotFound = Signal(str, str, str)  # noqa: N815
    certificateRefused = Signal(str, str, str)  # noqa: N815

    def __init__(
        self, session: ChatSession, known_servers: KnownServers | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.known_servers = known_servers or KnownServers()
        # The person's answers, asked by the app without blocking the loop: trust this
        # certificate (server, fingerprint)? Send the password in clear (server)?
        self.ask_trust: Callable[[str, str], Awaitable[bool]] = _refuse_trust
        self.ask_clear_text: Callable[[str], Awaitable[bool]] = _refuse_clear_text
        # Fingerprints LAN discovery advertised, by server ("host:port"): trusted without asking.
        self._advertised: dict[str, str] = {}
        # (field, message, HTTP status) of the last failed login, for callers that said it quietly.
        self.last_login_failure: tuple[str, str, int] | None = None
        # How long a server may take to accept the connection, and then to answer (seconds).
        self.request_timeout = DEFAULT_TIMEOUT
        self._login_attempt: asyncio.Future[tuple[RestApi, Login]] | None = None
        self._after_login: list[Callable[[], Awaitable[None]]] = []
        session.linkChanged.connect(self._link_changed)

    def after_login(self, step: Callable[[], Awaitable[None]]) -> None:
        """Await ``step`` once logged in (after loggedIn), before ``login`` returns."""
        self._after_login.append(step)

    async def login(
        self,
        address: str,
        username: str,
        password: str,
        *,
        register: bool = False,
        quiet_statuses: frozenset[int] = frozenset(),
    ) -> bool:
        """Check that a gochat server answers at ``address``, register first if asked, log in.

        An address that cannot be one is refused before anything is sent. A failure is shown
        (loginFailed) unless its HTTP status is in ``quiet_statuses``: the caller then decides
        what to say (``last_login_failure`` has it). ``cancel_login`` ends the attempt."""
        self.last_login_failure = None
        try:
            parsed = parse_address(address)
        except ApiError as error:
            self._login_failed(error, quiet_statuses)
            return False
        attempt = asyncio.ensure_future(self._sign_in(parsed, username, password, register=register))
        self._login_attempt = attempt
        self.busyChanged.emit(True)
        try:
            api, login = await attempt
        except ApiError as error:
            self._login_failed(error, quiet_statuses)
            return False
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if attempt.cancelled() and current is not None and not current.cancelling():
                return False  # the person pressed Cancel; the form is theirs again
            raise
        finally:
            if self._login_attempt is attempt:
                self._login_attempt = None
            self.busyChanged.emit(False)
        self.session.open(api.base_url, api, login)
        self.loggedIn.emit(login.user, self.session.server)
        for step in self._after_login:
            await step()
        return True

    async def _sign_in(
        self, address: ServerAddress, username: str, password: str, *, register: bool
    ) -> tuple[RestApi, Login]:
        api = await self._reach(address)
        try:
            if register:
                await api.register(username, password)
            return api, await api.login(username, password)
        except BaseException:
            await api.close()
            raise

    def expect_fingerprint(self, server: str, fingerprint: str) -> None:
        """LAN discovery advertised ``fingerprint`` for ``server`` ("host:port"): a certificate
        that matches it is trusted without asking."""
        if fingerprint:
            self._advertised[server.lower()] = fingerprint.lower()

    async def _reach(self, address: ServerAddress) -> RestApi:
        """A client of the gochat server at ``address`` that may be sent a password: it answered
        as gochat does, over the transport the person chose or accepted, with a certificate
        trusted. Otherwise an ApiError that says why; nothing secret was sent anywhere."""
        if address.scheme_typed:
            return await self._check(address)
        if is_loopback(address.host):
            try:
                return await self._check(address.with_scheme("http"))
            except ApiError as error:
                if error.failure != HUNG_UP:
                    raise
                try:
                    return await self._check(address.with_scheme("https"))
                except ApiError as second:
                    if second.failure in (CHANGED, UNTRUSTED):
                        raise  # a TLS server: its certificate is the matter
                    raise error from None  # neither spoke: what plain HTTP met says more
        try:
            return await self._check(address.with_scheme("https"))
        except ApiError as error:
            if error.failure != NOT_TLS:
                raise
        if self.known_servers.fingerprint(address.server):
            raise ApiError(
                f"{address.server} used to answer over HTTPS with a certificate you trusted, and now answers "
                "only without encryption: it may be someone else pretending to be that server. Nothing was sent.",
                field="server",
            )
        if not await self.ask_clear_text(address.server):
            raise ApiError(
                f"Not connected: {address.server} does not use encryption (HTTPS), and you chose not to send "
                "your password in clear.",
                field="server",
            )
        return await self._check(address.with_scheme("http"))

    async def _check(self, address: ServerAddress) -> RestApi:
        """Ask the server at ``address`` whether it is gochat; over https, trust its certificate."""
        api = RestApi(
            address.base_url,
            timeout=self.request_timeout,
            trusted_fingerprint=self.known_servers.fingerprint(address.server),
        )
        try:
            await api.check_server()  # whatever answers must be a gochat server before it gets a password
            pin = api.pin
            if pin is not None and not pin.trusted and pin.seen is not None:
                await self._trust_first_use(address.server, pin.seen)
                pin.trust(pin.seen)
        except CertificateRefused as refused:
            await api.close()
            self.certificateRefused.emit(address.server, refused.expected, refused.seen)
            raise
        except BaseException:
            await api.close()
            raise
        return api

    async def _trust_first_use(self, server: str, seen: str) -> None:
        """A certificate no CA vouches for and none trusted for ``server`` yet: trust it if LAN
        discovery advertised it, or if the person says so having seen its fingerprint."""
        advertised = self._advertised.get(server.lower())
        if advertised is not None and advertised != seen:
            raise CertificateRefused(
                f"{server} showed a different certificate from the one it announces on your network: it may be "
                "someone else pretending to be that server. Nothing was sent.",
                advertised,
                seen,
            )
        if advertised is None and not await self.ask_trust(server, seen):
            raise ApiError(
                f"Not connected: you did not trust the certificate of {server}.", field="server", failure=UNTRUSTED
            )
        self.known_servers.remember(server, seen)

    def _login_failed(self, error: ApiError, quiet_statuses: frozenset[int]) -> None:
        self.last_login_failure = (error.field or "server", error.message, error.status or 0)
        if error.status not in quiet_statuses:
            self.loginFailed.emit(error.field or "server", error.message)

    def cancel_login(self) -> bool:
        """Stop the login under way (connecting, or waiting for an answer). False if there was none."""
        attempt = self._login_attempt
        if attempt is None or attempt.done():
            return False
        attempt.cancel()
        return True

    async def register_and_login(self, address: str, username: str, password: str) -> bool:
        """Create the account (the person asked for it) and log in. When the name is taken the
        account exists already, so the password they typed was wrong: that is what is said. A
        name refused as a look-alike of another is said as the server says it."""
        if await self.login(address, username, password, register=True, quiet_statuses=frozenset({409})):
            return True
        if self.last_login_failure is not None and self.last_login_failure[2] == 409:
            field, message, _status = self.last_login_failure
            if message == NAME_TAKEN:
                self.loginFailed.emit("password", "Wrong username or password.")
            else:  # a look-alike of someone else's name: no account of that name exists
                self.loginFailed.emit(field, message)
        return False

    def login_to_own_server(self, address: str, username: str, password: str) -> asyncio.Task[bool] | None:
        """The user's own server just started with a name and password left in the form: try
        them, without a word if the server does not know them (accountNotFound follows then)."""
        task = self.session.spawn(self.login(address, username, password, quiet_statuses=frozenset({401})))
        if task is not None:
            task.add_done_callback(lambda done: self._own_server_login_finished(done, address, username, password))
        return task

    def _own_server_login_finished(self, task: asyncio.Task[bool], address: str, username: str, password: str) -> None:
        # A done callback, not the coroutine: whoever asks the user a modal question on
        # accountNotFound must not do so inside a running task (it would run other tasks inside it).
        if task.cancelled() or task.exception() is not None or task.result():
            return
        failure = self.last_login_failure
        if failure is None or failure[2] != 401:
            return  # said already, beside the field at fault
        self.accountNotFound.emit(address, username, password)

    async def logout(self, reason: str = "", *, everywhere: bool = False) -> None:
        """Log out (``everywhere``: this user's every login, on every device, ends too)."""
        await self.session.close(reason, everywhere=everywhere)
        self.loggedOut.emit(reason)

    def _link_changed(self, state: str, detail: str) -> None:
        if state == LinkState.CLOSED.value and detail and self.session.active:
            self.session.spawn(self.logout(detail))

    async def shutdown(self) -> None:
        if self.session.active:
            await self.logout()
        await self.session.shutdown()
