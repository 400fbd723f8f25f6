"""The login window: server address, username, password; Log in and Register.

On a first start (no server remembered) it says first that a server is needed and offers the
two ways to one, "Host on this computer" and "Find servers on my network", before the address
field for a server someone gave you. Once a server has been used it opens on the form.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QHideEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gochat.desktop.resources import app_icon
from gochat.desktop.state import ServerEntry
from gochat.desktop.windows.labels import error_label, info_label
from gochat.desktop.windows.placement import fit_height_to_content

SERVER_EXAMPLE = "192.168.1.5:8080"
FIRST_START_LINE = "To chat you need a gochat server: host one on this computer, or find one on your network."
RETURNING_LINE = "Chat rooms on your own server."
OR_TYPE_LINE = "Or type the address of a server someone gave you:"


class LoginWindow(QWidget):
    """Asks for credentials. It only emits signals; the controllers do the talking.

    Signals:
        submitted(server: str, username: str, password: str, register: bool): Log in (or
            Register: ``register`` True) with what the form holds.
        hostRequested(username: str): "Host on this computer", with the name typed so far.
        ownServerLoginRequested(server: str, username: str, password: str): the user's own
            server started (``show_own_server``) with a name and password left in the form.
        browseToggled(on: bool): "Find servers on my network" on or off.
        cancelRequested(): stop connecting.
    """

    submitted = Signal(str, str, str, bool)
    hostRequested = Signal(str)  # noqa: N815
    ownServerLoginRequested = Signal(str, str, str)  # noqa: N815
    browseToggled = Signal(bool)  # noqa: N815
    cancelRequested = Signal()  # noqa: N815 - stop connecting

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        # Asked before the window closes by the user's hand (the app quits then); False keeps it open.
        self.close_guard: Callable[[], bool] | None = None
        self._settings = settings
        saved_server = str(settings.value("server", "") or "").strip()
        # Nothing configured yet: lead with the ways to get a server.
        self.first_start = not saved_server
        self.setWindowTitle("gochat — log in")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(440)

        title = QLabel("gochat")
        title.setProperty("role", "title")
        self.subtitle = QLabel(FIRST_START_LINE if self.first_start else RETURNING_LINE)
        self.subtitle.setWordWrap(True)
        self.subtitle.setProperty("role", "lead" if self.first_start else "muted")

        self.server = QLineEdit(saved_server)
        self.server.setPlaceholderText(SERVER_EXAMPLE)
        self.username = QLineEdit(str(settings.value("username", "")))
        self.username.setPlaceholderText("Your name")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Your password (a new one: 8 characters or more)")
        self.errors = {"server": error_label(), "username": error_label(), "password": error_label()}
        self.notice = info_label()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, field, key in (
            ("Server", self.server, "server"),
            ("Username", self.username, "username"),
            ("Password", self.password, "password"),
        ):
            column = QVBoxLayout()
            column.setSpacing(2)
            column.addWidget(field)
            column.addWidget(self.errors[key])
            form.addRow(label, column)

        self.login_button = QPushButton("Log in")
        self.login_button.setDefault(True)
        self.register_button = QPushButton("Register")
        self.register_button.setToolTip("Create the account, then log in")
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(self.register_button)
        buttons.addWidget(self.login_button)

        self.host_button = QPushButton("Host on this computer")
        self.host_button.setToolTip("Start a gochat server in this app, then log in to it")
        self.find_button = QPushButton("Find servers on my network")
        self.find_button.setCheckable(True)
        self.found = QListWidget()
        self.found.setMaximumHeight(110)
        self.found.hide()
        self.found_hint = QLabel("Looking for gochat servers on your network…")
        self.found_hint.setProperty("role", "muted")
        self.found_hint.hide()
        paths = QHBoxLayout()
        if self.first_start:
            # The two ways to a server are the way in: large, side by side, the host one primary.
            for button in (self.host_button, self.find_button):
                button.setProperty("prominent", True)
                paths.addWidget(button, 1)
            self.host_button.setProperty("primary", True)
        else:
            paths.addWidget(self.host_button)
            paths.addWidget(self.find_button)
            self.login_button.setProperty("primary", True)
            paths.addStretch()

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: "working on it"
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(4)
        self.busy.hide()
        self.busy_label = QLabel("Connecting…")
        self.busy_label.setProperty("role", "muted")
        self.busy_label.setWordWrap(True)
        self.busy_label.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop connecting (Esc)")
        self.cancel_button.hide()
        busy_row = QHBoxLayout()
        busy_row.addWidget(self.busy_label, 1)
        busy_row.addWidget(self.cancel_button)

        self.or_label = QLabel(OR_TYPE_LINE)
        self.or_label.setProperty("role", "muted")
        self.or_label.setVisible(self.first_start)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(self.subtitle)
        layout.addSpacing(4)
        if self.first_start:
            layout.addLayout(paths)
            layout.addWidget(self.found_hint)
            layout.addWidget(self.found)
            layout.addSpacing(6)
            layout.addWidget(self.notice)
            layout.addWidget(self.or_label)
            layout.addLayout(form)
            layout.addWidget(self.busy)
            layout.addLayout(busy_row)
            layout.addLayout(buttons)
        else:
            layout.addWidget(self.notice)
            layout.addLayout(form)
            layout.addWidget(self.busy)
            layout.addLayout(busy_row)
            layout.addLayout(buttons)
            layout.addSpacing(6)
            layout.addLayout(paths)
            layout.addWidget(self.found_hint)
            layout.addWidget(self.found)

        self.login_button.clicked.connect(lambda: self._submit(register=False))
        self.register_button.clicked.connect(lambda: self._submit(register=True))
        for field in (self.server, self.username, self.password):
            field.returnPressed.connect(lambda: self._submit(register=False))
        # The first keystroke goes into a field, never onto a button (a space would press it).
        if self.username.text():
            self.password.setFocus(Qt.FocusReason.OtherFocusReason)
        elif self.first_start:
            self.server.setFocus(Qt.FocusReason.OtherFocusReason)
        self.host_button.clicked.connect(lambda: self.hostRequested.emit(self.username.text().strip()))
        self.find_button.toggled.connect(self._toggle_browse)
        self.found.itemClicked.connect(self._pick_server)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self._focus_before_busy: QWidget | None = None

    def _submit(self, *, register: bool) -> None:
        if self.busy.isVisible():
            return
        self.clear_errors()
        missing = False
        for key, field, text in (
            ("server", self.server, f"Type the server's address, for example {SERVER_EXAMPLE}."),
            ("username", self.username, "Type your username."),
            ("password", self.password, "Type your password."),
        ):
            if not field.text().strip():
                self.show_error(key, text)
                missing = True
        if missing:
            return
        self.submitted.emit(self.server.text().strip(), self.username.text().strip(), self.password.text(), register)

    def remember(self) -> None:
        """Logged in: the next start opens on this server and name. Only then: an address that
        never worked must not make the next start skip the ways to a server."""
        self._settings.setValue("server", self.server.text().strip())
        self._settings.setValue("username", self.username.text().strip())

    def _toggle_browse(self, on: bool) -> None:
        self.found.setVisible(on)
        self.found_hint.setVisible(on and self.found.count() == 0)
        if not on:
            self.found.clear()
        self.fit_height()
        self.browseToggled.emit(on)

    def set_found(self, servers: list[ServerEntry]) -> None:
        """The servers announced on the network right now."""
        self.found.clear()
        for server in servers:
            item = QListWidgetItem(f"{server.name} — {server.address}")
            item.setData(Qt.ItemDataRole.UserRole, server.address)
            self.found.addItem(item)
        self.found_hint.setVisible(self.find_button.isChecked() and not servers)
        self.fit_height()

    def _pick_server(self, item: QListWidgetItem) -> None:
        self.server.setText(str(item.data(Qt.ItemDataRole.UserRole)))
        self.errors["server"].hide()
        self.username.setFocus()
        self.fit_height()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.close_guard is not None and not self.close_guard():
            event.ignore()
            return
        super().closeEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        # Browsing is opt-in and ends with the window.
        if self.find_button.isChecked():
            self.find_button.setChecked(False)
        super().hideEvent(event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        # What changed while hidden (a notice cleared on logging out) must not leave a gap.
        self.fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape and self.busy.isVisible():
            self.cancelRequested.emit()
            return
        super().keyPressEvent(event)

    def fit_height(self) -> None:
        """Exactly as tall as what is shown: grow for a message, shrink back when the server
        list or a message goes."""
        fit_height_to_content(self)

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.clear()
            label.hide()
        self.fit_height()

    def show_error(self, field: str, message: str) -> None:
        label = self.errors.get(field, self.errors["server"])
        label.setText(message)
        label.show()
        self.fit_height()

    def show_info(self, message: str) -> None:
        """A neutral notice above the form (your server is running, what to do next)."""
        self.notice.setText(message)
        self.notice.show()
        self.or_label.hide()  # the notice says what to do with the form now
        self.fit_height()

    def clear_info(self) -> None:
        self.notice.clear()
        self.notice.hide()
        self.or_label.setVisible(self.first_start)
        self.fit_height()

    def focus_next_field(self) -> None:
        """Put the cursor where the next keystroke belongs: Username, or Password when the
        username is filled in already."""
        field = self.password if self.username.text().strip() else self.username
        self.activateWindow()
        field.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_own_server(self, address: str, notice: str) -> None:
        """The user's own server started: the form points at it, and says so. Credentials left
        in the form (from an earlier login) are offered to it (ownServerLoginRequested)."""
        self.server.setText(address)
        self.clear_errors()
        self.show_info(notice)
        # Not on the Host button: "Tab, alice, Tab, password" must not go into the Server field.
        self.focus_next_field()
        username, password = self.username.text().strip(), self.password.text()
        if username and password:
            self.ownServerLoginRequested.emit(address, username, password)

    def show_still_hosting(self, address: str, notice: str) -> None:
        """Back at the login while this app hosts: the form points at that server."""
        self.server.setText(address)
        self.show_info(notice)
        self.focus_next_field()

    def ask_for_username(self, notice: str) -> None:
        """No account was made: say so, and select the name to type another."""
        self.show_info(notice)
        self.username.setFocus(Qt.FocusReason.OtherFocusReason)
        self.username.selectAll()

    def set_busy(self, busy: bool) -> None:
        if busy and not self.busy.isVisible():
            server = self.server.text().strip()
            self.busy_label.setText(f"Connecting to {server}…" if server else "Connecting…")
            self._focus_before_busy = self.focusWidget()
        self.busy.setVisible(busy)
        self.busy_label.setVisible(busy)
        self.cancel_button.setVisible(busy)
        for widget in (
            self.server,
            self.username,
            self.password,
            self.login_button,
            self.register_button,
            self.host_button,
            self.find_button,
            self.found,
        ):
            widget.setEnabled(not busy)
        if busy:
            self.cancel_button.setFocus(Qt.FocusReason.OtherFocusReason)
        elif self._focus_before_busy is not None:
            # Back where the person was typing (disabling a field takes its focus away).
            self._focus_before_busy.setFocus(Qt.FocusReason.OtherFocusReason)
            self._focus_before_busy = None
        self.fit_height()

    def reset_for_login(self) -> None:
        self.password.clear()
        self.clear_errors()
        self.clear_info()
        self.set_busy(False)
        self.focus_next_field()
