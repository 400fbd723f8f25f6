"""The login window: server address, username, password; Log in and Register."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QHideEvent
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

DEFAULT_SERVER = "127.0.0.1:8080"


def error_label() -> QLabel:
    label = QLabel()
    label.setProperty("role", "error")
    label.setWordWrap(True)
    label.hide()
    return label


class LoginWindow(QWidget):
    """Asks for credentials. It only emits ``submitted``; the session does the talking."""

    submitted = Signal(str, str, str, bool)  # server, username, password, register first
    hostRequested = Signal()  # noqa: N815
    browseToggled = Signal(bool)  # noqa: N815

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self._settings = settings
        self.setWindowTitle("gochat — log in")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(420)

        title = QLabel("gochat")
        title.setProperty("role", "title")
        subtitle = QLabel("Chat rooms on your own server.")
        subtitle.setProperty("role", "muted")

        self.server = QLineEdit(str(settings.value("server", DEFAULT_SERVER)))
        self.server.setPlaceholderText("192.168.1.5:8080")
        self.username = QLineEdit(str(settings.value("username", "")))
        self.username.setPlaceholderText("Your name")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("At least 8 characters")
        self.errors = {"server": error_label(), "username": error_label(), "password": error_label()}

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
        self.login_button.setProperty("primary", True)
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
        extra = QHBoxLayout()
        extra.addWidget(self.host_button)
        extra.addWidget(self.find_button)
        extra.addStretch()

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: "working on it"
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(4)
        self.busy.hide()
        self.busy_label = QLabel("Connecting…")
        self.busy_label.setProperty("role", "muted")
        self.busy_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(self.busy)
        layout.addWidget(self.busy_label)
        layout.addLayout(buttons)
        layout.addSpacing(6)
        layout.addLayout(extra)
        layout.addWidget(self.found_hint)
        layout.addWidget(self.found)

        self.login_button.clicked.connect(lambda: self._submit(register=False))
        self.register_button.clicked.connect(lambda: self._submit(register=True))
        for field in (self.server, self.username, self.password):
            field.returnPressed.connect(lambda: self._submit(register=False))
        if self.username.text():
            self.password.setFocus(Qt.FocusReason.OtherFocusReason)
        self.host_button.clicked.connect(self.hostRequested)
        self.find_button.toggled.connect(self._toggle_browse)
        self.found.itemClicked.connect(self._pick_server)

    def _submit(self, *, register: bool) -> None:
        if self.busy.isVisible():
            return
        self.clear_errors()
        missing = False
        for key, field, text in (
            ("server", self.server, "Type the server's address."),
            ("username", self.username, "Type your username."),
            ("password", self.password, "Type your password."),
        ):
            if not field.text().strip():
                self.show_error(key, text)
                missing = True
        if missing:
            return
        self._settings.setValue("server", self.server.text().strip())
        self._settings.setValue("username", self.username.text().strip())
        self.submitted.emit(self.server.text().strip(), self.username.text().strip(), self.password.text(), register)

    def _toggle_browse(self, on: bool) -> None:
        self.found.setVisible(on)
        self.found_hint.setVisible(on and self.found.count() == 0)
        if not on:
            self.found.clear()
        self.browseToggled.emit(on)

    def set_found(self, servers: list[ServerEntry]) -> None:
        """The servers announced on the network right now."""
        self.found.clear()
        for server in servers:
            item = QListWidgetItem(f"{server.name} — {server.address}")
            item.setData(Qt.ItemDataRole.UserRole, server.address)
            self.found.addItem(item)
        self.found_hint.setVisible(self.find_button.isChecked() and not servers)

    def _pick_server(self, item: QListWidgetItem) -> None:
        self.server.setText(str(item.data(Qt.ItemDataRole.UserRole)))
        self.errors["server"].hide()
        self.username.setFocus()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        # Browsing is opt-in and ends with the window.
        if self.find_button.isChecked():
            self.find_button.setChecked(False)
        super().hideEvent(event)

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.clear()
            label.hide()

    def show_error(self, field: str, message: str) -> None:
        label = self.errors.get(field, self.errors["server"])
        label.setText(message)
        label.show()

    def set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.busy_label.setVisible(busy)
        self.login_button.setEnabled(not busy)
        self.register_button.setEnabled(not busy)
        self.host_button.setEnabled(not busy)

    def reset_for_login(self) -> None:
        self.password.clear()
        self.clear_errors()
        self.set_busy(False)
