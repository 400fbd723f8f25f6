"""The host dialog's answers of the last hosting that started, kept in the settings: hosting again
(after a restart of the app) offers the same name, port and choices, so the address and the
certificate people trusted for it (trusted per host:port) still lead to this server.

Advanced (MySQL and Redis URLs) is not kept: a URL may hold a database password, and the
settings file is no place for one."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from gochat.desktop.hosting.options import HostOptions

KEY = "hosting/last"


def _flag(value: object) -> bool:
    # QSettings' INI files give booleans back as the strings "true"/"false".
    return value is True or str(value).lower() == "true"


def remember_options(settings: QSettings, options: HostOptions) -> None:
    settings.setValue(f"{KEY}/name", options.name)
    settings.setValue(f"{KEY}/port", options.port)
    settings.setValue(f"{KEY}/letOthersJoin", options.let_others_join)
    settings.setValue(f"{KEY}/announce", options.announce)
    settings.setValue(f"{KEY}/tls", options.tls)


def remembered_options(settings: QSettings) -> HostOptions | None:
    """The options of the last hosting that started, or None (never hosted, or unreadable)."""
    name = str(settings.value(f"{KEY}/name", "") or "")
    try:
        port = int(str(settings.value(f"{KEY}/port", "")))
    except ValueError:
        return None
    if not name or not 1 <= port <= 65535:
        return None
    return HostOptions(
        name=name,
        port=port,
        let_others_join=_flag(settings.value(f"{KEY}/letOthersJoin", False)),
        announce=_flag(settings.value(f"{KEY}/announce", False)),
        tls=_flag(settings.value(f"{KEY}/tls", True)),
    )
