"""What hosting from the desktop is asked to do (the host dialog's answers). No Qt."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST_PORT = 8080


@dataclass(frozen=True, slots=True)
class HostOptions:
    """What the host dialog asks for."""

    name: str
    port: int = DEFAULT_HOST_PORT
    let_others_join: bool = False
    announce: bool = False
    # With others joining: https/wss with a self-signed certificate kept in the data directory.
    tls: bool = True
    database_url: str = ""  # empty: SQLite in the user's data directory
    redis_url: str = ""
    redis_prefix: str = ""  # empty: the server's default
