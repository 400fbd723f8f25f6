"""The certificates this user trusts, one per server (``host:port``), kept in the app's QSettings
like SSH's known_hosts: the first connection asks, later ones compare."""

from __future__ import annotations

from urllib.parse import quote

from PySide6.QtCore import QSettings

GROUP = "knownServers"


class KnownServers:
    """SHA-256 fingerprints (lower-case hex) by server; ``memory`` without settings (tests, tools)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings
        self._memory: dict[str, str] = {}

    @staticmethod
    def _key(server: str) -> str:
        # Quoted whole: the colons and brackets of an address must not make settings groups.
        return f"{GROUP}/{quote(server.lower(), safe='')}"

    def fingerprint(self, server: str) -> str:
        """The fingerprint trusted for ``server``, or ""."""
        if self._settings is None:
            return self._memory.get(server.lower(), "")
        return str(self._settings.value(self._key(server), "") or "")

    def remember(self, server: str, fingerprint: str) -> None:
        if self._settings is None:
            self._memory[server.lower()] = fingerprint
            return
        self._settings.setValue(self._key(server), fingerprint)
        self._settings.sync()  # trusted now, also if the app dies before it quits

    def forget(self, server: str) -> None:
        if self._settings is None:
            self._memory.pop(server.lower(), None)
            return
        self._settings.remove(self._key(server))
        self._settings.sync()
