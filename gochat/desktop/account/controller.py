"""AccountController: logging in, registering and logging out, over the ChatSession."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject, Signal

from gochat.desktop.api import DEFAULT_TIMEOUT, ApiError, Login, RestApi, normalise_address
from gochat.desktop.session import ChatSession
from gochat.desktop.state import LinkState


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
    """

    busyChanged = Signal(bool)  # noqa: N815 - Qt naming
    loginFailed = Signal(str, str)  # noqa: N815
    loggedIn = Signal(object, str)  # noqa: N815
    loggedOut = Signal(str)  # noqa: N815
    accountNotFound = Signal(str, str, str)  # noqa: N815

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        # (field, message, HTTP status) of the last failed login, for callers that said it quietly.
        self.last_login_failure: tuple[str, str, int] | None = None
        # How long a server may take to accept the connection, and then to answer (seconds).
        self.request_timeout = DEFAULT_TIMEOUT
        self._login_attempt: asyncio.Future[Login] | None = None
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
            base = normalise_address(address)
        except ApiError as error:
            self._login_failed(error, quiet_statuses)
            return False
        api = RestApi(base, timeout=self.request_timeout)
        attempt = asyncio.ensure_future(self._sign_in(api, username, password, register=register))
        self._login_attempt = attempt
        self.busyChanged.emit(True)
        try:
            login = await attempt
        except ApiError as error:
            await api.close()
            self._login_failed(error, quiet_statuses)
            return False
        except asyncio.CancelledError:
            await api.close()
            current = asyncio.current_task()
            if attempt.cancelled() and current is not None and not current.cancelling():
                return False  # the person pressed Cancel; the form is theirs again
            raise
        except BaseException:
            await api.close()
            raise
        finally:
            if self._login_attempt is attempt:
                self._login_attempt = None
            self.busyChanged.emit(False)
        self.session.open(base, api, login)
        self.loggedIn.emit(login.user, self.session.server)
        for step in self._after_login:
            await step()
        return True

    @staticmethod
    async def _sign_in(api: RestApi, username: str, password: str, *, register: bool) -> Login:
        # Whatever answers must be a gochat server before it is sent a password.
        await api.check_server()
        if register:
            await api.register(username, password)
        return await api.login(username, password)

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
        account exists already, so the password they typed was wrong: that is what is said."""
        if await self.login(address, username, password, register=True, quiet_statuses=frozenset({409})):
            return True
        if self.last_login_failure is not None and self.last_login_failure[2] == 409:
            self.loginFailed.emit("password", "Wrong username or password.")
        return False

    def login_to_own_server(self, address: str, username: str, password: str) -> asyncio.Task[bool]:
        """The user's own server just started with a name and password left in the form: try
        them, without a word if the server does not know them (accountNotFound follows then)."""
        task = self.session.spawn(self.login(address, username, password, quiet_statuses=frozenset({401})))
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

    async def logout(self, reason: str = "") -> None:
        await self.session.close(reason)
        self.loggedOut.emit(reason)

    def _link_changed(self, state: str, detail: str) -> None:
        if state == LinkState.CLOSED.value and detail and self.session.active:
            self.session.spawn(self.logout(detail))

    async def shutdown(self) -> None:
        if self.session.active:
            await self.logout()
        await self.session.shutdown()
