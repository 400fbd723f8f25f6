"""The "Host on this computer" dialog, and the hosting panel of the room list."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gochat.certificates import display_fingerprint
from gochat.desktop.hosting.options import DEFAULT_HOST_PORT, HostOptions
from gochat.desktop.resources import app_icon
from gochat.desktop.windows.fingerprint import fingerprint_lines
from gochat.desktop.windows.labels import error_label
from gochat.desktop.windows.placement import fit_height_to_content


class HostDialog(QDialog):
    startRequested = Signal(object)  # HostOptions  # noqa: N815

    def __init__(self, default_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Host on this computer — gochat")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(460)

        intro = QLabel(
            "Run a gochat server inside this app. Messages are kept on this computer "
            "(or in the MySQL database under Advanced)."
        )
        intro.setWordWrap(True)
        intro.setProperty("role", "muted")

        self.name = QLineEdit(default_name)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(DEFAULT_HOST_PORT)
        self.let_others_join = QCheckBox("Let others on my network join")
        self.announce = QCheckBox("Announce it so they can find it")
        self.announce.setEnabled(False)
        # On by default once others may join: passwords and messages never cross the network in
        # clear. Only this computer joining, there is no network to protect them from.
        self.encrypt = QCheckBox("Encrypt connections (HTTPS)")
        self.encrypt.setToolTip(
            "With a certificate made on this computer the first time and kept: people joining are shown "
            "its fingerprint once, to compare with the one in your hosting panel"
        )
        self.encrypt.setChecked(True)
        self.encrypt.setEnabled(False)
        self.let_others_join.toggled.connect(self._join_toggled)

        # A tick box, and the fields under it only while it is ticked: unticked, nothing of
        # Advanced takes room (an empty group box frame would).
        self.advanced = QCheckBox("Advanced: MySQL and Redis")
        self.advanced_box = QFrame()
        self.advanced_box.setObjectName("advanced")
        self.database_url = QLineEdit()
        self.database_url.setPlaceholderText("mysql+pymysql://user:password@host/chat")
        self.redis_url = QLineEdit()
        self.redis_url.setPlaceholderText("redis://host:6379/0 (optional)")
        self.redis_prefix = QLineEdit()
        self.redis_prefix.setPlaceholderText("empty: the server's default")
        self.redis_prefix.setToolTip("Start of every key this server keeps in Redis, so servers can share one Redis")
        advanced_form = QFormLayout(self.advanced_box)
        advanced_form.setContentsMargins(24, 0, 0, 0)
        advanced_form.addRow("MySQL URL", self.database_url)
        advanced_form.addRow("Redis URL", self.redis_url)
        advanced_form.addRow("Redis key prefix", self.redis_prefix)
        self.advanced_box.hide()
        self.advanced.toggled.connect(self._show_advanced)

        form = QFormLayout()
        form.addRow("Server name", self.name)
        form.addRow("Port", self.port)
        form.addRow("", self.let_others_join)
        form.addRow("", self.announce)
        form.addRow("", self.encrypt)

        self.error = error_label()
        self.use_free_port = QPushButton()
        self.use_free_port.hide()
        self._suggested_port = 0
        self.use_free_port.clicked.connect(self._take_suggestion)

        self.start_button = QPushButton("Start hosting")
        self.start_button.setProperty("primary", True)
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_free_port)
        buttons.addStretch()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(12)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.advanced_box)
        layout.addWidget(self.error)
        layout.addLayout(buttons)

        self.start_button.clicked.connect(self._start)
        self.cancel_button.clicked.connect(self.reject)

    def _show_advanced(self, on: bool) -> None:
        self.advanced_box.setVisible(on)
        if on:
            self.database_url.setFocus(Qt.FocusReason.OtherFocusReason)
        self.fit_height()

    def fit_height(self) -> None:
        """As tall as what is shown: taller for Advanced or a message, back when they go."""
        fit_height_to_content(self)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        # Shown, a window takes its layout's size hint, which guesses at the wrapped intro's
        # height from a width of its own: fit the real width, so the height is the same as
        # after Advanced is ticked and unticked (no gap, never squeezed).
        self.fit_height()

    def _join_toggled(self, on: bool) -> None:
        # Announcing and encrypting only make sense when others can connect.
        self.announce.setEnabled(on)
        self.encrypt.setEnabled(on)
        if not on:
            self.announce.setChecked(False)

    def show_options(self, options: HostOptions) -> None:
        """Fill the form with ``options`` (the last hosting's: see hosting/remembered.py)."""
        self.name.setText(options.name)
        self.port.setValue(options.port)
        self.let_others_join.setChecked(options.let_others_join)
        if options.let_others_join:  # unticked, the two below are off and disabled anyway
            self.announce.setChecked(options.announce)
            self.encrypt.setChecked(options.tls)

    def options(self) -> HostOptions:
        advanced = self.advanced.isChecked()
        return HostOptions(
            name=self.name.text().strip() or "gochat",
            port=self.port.value(),
            let_others_join=self.let_others_join.isChecked(),
            announce=self.announce.isChecked(),
            tls=self.encrypt.isChecked(),
            database_url=self.database_url.text().strip() if advanced else "",
            redis_url=self.redis_url.text().strip() if advanced else "",
            redis_prefix=self.redis_prefix.text().strip() if advanced else "",
        )

    def _start(self) -> None:
        self.error.hide()
        self.use_free_port.hide()
        self.set_busy(True)
        self.startRequested.emit(self.options())

    def set_busy(self, busy: bool) -> None:
        self.start_button.setEnabled(not busy)
        self.start_button.setText("Starting…" if busy else "Start hosting")

    def show_error(self, message: str, free_port: int) -> None:
        self.set_busy(False)
        self.error.setText(message)
        self.error.show()
        self._suggested_port = free_port
        if free_port:
            self.use_free_port.setText(f"Use port {free_port}")
            self.use_free_port.show()
        self.fit_height()  # grow to fit the message rather than squeeze the fields

    def clear_error(self) -> None:
        """Opened again: last attempt's message (for settings that may have changed) goes."""
        self.error.hide()
        self.use_free_port.hide()
        self.fit_height()

    def _take_suggestion(self) -> None:
        self.port.setValue(self._suggested_port)
        self._start()


def people_connected(others: int) -> str:
    """How many others are connected to the host's server (the host is not counted)."""
    if not others:
        return "No one else connected"
    return f"{others} other {'person' if others == 1 else 'people'} connected"


def format_uptime(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class HostingPanel(QFrame):
    """Shown in the room list while this app hosts: where to join, who is here, Stop."""

    stopRequested = Signal()  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("hosting")
        self.title = QLabel("Hosting")
        self.title.setStyleSheet("font-weight: 600;")
        self.addresses = QLabel()
        self.addresses.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.addresses.setWordWrap(True)
        self.connected = QLabel()
        self.uptime = QLabel()
        # Where the messages are kept and what caches them (passwords masked).
        self.storage = QLabel()
        self.storage.setProperty("role", "muted")
        self.storage.setWordWrap(True)
        self.storage.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.storage.hide()
        # The certificate's fingerprint, which joiners are shown on their first connection: read
        # out or sent to them, so they can tell this server from an impostor.
        self.fingerprint_title = QLabel(
            "Certificate fingerprint (SHA-256): joiners compare it with what they are shown"
        )
        self.fingerprint_title.setProperty("role", "muted")
        self.fingerprint_title.setWordWrap(True)
        self.fingerprint = QLabel()
        self.fingerprint.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.fingerprint.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.copy_fingerprint = QPushButton("Copy")
        self.copy_fingerprint.setToolTip("Copy the fingerprint (AB:CD:… on one line)")
        self.copy_fingerprint.clicked.connect(self._copy_fingerprint)
        self._fingerprint = ""
        fingerprint_row = QHBoxLayout()
        fingerprint_row.addWidget(self.fingerprint, 1)
        fingerprint_row.addWidget(self.copy_fingerprint, 0, Qt.AlignmentFlag.AlignTop)
        self.fingerprint_box = QWidget()
        fingerprint_layout = QVBoxLayout(self.fingerprint_box)
        fingerprint_layout.setContentsMargins(0, 0, 0, 0)
        fingerprint_layout.setSpacing(2)
        fingerprint_layout.addWidget(self.fingerprint_title)
        fingerprint_layout.addLayout(fingerprint_row)
        self.fingerprint_box.hide()
        self.error = error_label()
        self.stop_button = QPushButton("Stop hosting")
        self.stop_button.clicked.connect(self.stopRequested)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch()
        top.addWidget(self.connected)
        top.addWidget(self.uptime)
        top.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(top)
        layout.addWidget(self.addresses)
        layout.addWidget(self.fingerprint_box)
        layout.addWidget(self.storage)
        layout.addWidget(self.error)
        self.hide()

    def show_status(
        self, name: str, own_address: str, others: list[str], connected: int, uptime: float, fingerprint: str = ""
    ) -> None:
        """``connected``: people connected other than the host; ``fingerprint``: the SHA-256 of
        the certificate served (hex), "" without TLS."""
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self.fingerprint.setText(fingerprint_lines(fingerprint) if fingerprint else "")
            self.fingerprint_box.setVisible(bool(fingerprint))
        self.title.setText(f"Hosting “{name}”")
        if others:
            self.addresses.setText("Others join at: " + ", ".join(others) + f"   ·   this computer: {own_address}")
        else:
            self.addresses.setText(f"Only this computer can join: {own_address}")
        self.connected.setText(people_connected(connected))
        self.uptime.setText(f"· up {format_uptime(uptime)}")
        self.show()

    def _copy_fingerprint(self) -> None:
        if self._fingerprint:
            QGuiApplication.clipboard().setText(display_fingerprint(self._fingerprint))

    def show_storage(self, description: str) -> None:
        self.storage.setText(description)
        self.storage.setVisible(bool(description))

    def show_failure(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.show()
