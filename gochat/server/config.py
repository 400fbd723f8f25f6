"""Server settings: one frozen object built from flags and environment (flag wins)."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from sqlalchemy.engine import make_url

APP_NAME = "gochat"
LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]
DEFAULT_REDIS_PREFIX = "gochat:"


def default_data_dir() -> Path:
    """gochat's own folder in the user's data directory (the default database's; made 0700)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'gochat.sqlite3'}"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = ""  # empty: the embedded SQLite default
    redis_url: str | None = None
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    log_level: str = "info"
    server_name: str = "gochat"
    announce: bool = False
    # Frames queued for one client before it counts as not reading and is closed with 1013.
    # Keep it well above the writer's batch (1000): a reading client may get a whole batch at once.
    max_client_backlog: int = 10_000
    # TLS: with both, the port speaks only https/wss (docs/security.md).
    certfile: str | None = None
    keyfile: str | None = None
    # The interactive API pages /docs and /redoc (off: nobody on the LAN needs them to chat).
    api_docs: bool = False

    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url()

    @property
    def tls(self) -> bool:
        return bool(self.certfile and self.keyfile)


def default_server_name() -> str:
    return socket.gethostname().split(".")[0] or "gochat"


def masked_url(url: str) -> str:
    """The URL with any password replaced by ***, for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is not ours to echo back
        return "<unparsable url>"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gochat-server",
        description="The gochat chat server: REST + WebSocket on one port.",
    )
    parser.add_argument(
        "--host",
        default=env.get("GOCHAT_HOST", "127.0.0.1"),
        help="Address to listen on; 0.0.0.0 lets the whole network connect. Env: GOCHAT_HOST. Default: 127.0.0.1.",
    )
    parser.add_argument(
        "--port",
        type=_port,
        # A string default goes through type= too, so a bad GOCHAT_PORT is a clean usage error.
        default=env.get("GOCHAT_PORT", "8080"),
        help="TCP port for REST and WebSocket (0 picks a free one). Env: GOCHAT_PORT. Default: 8080.",
    )
    parser.add_argument(
        "--database-url",
        default=env.get("GOCHAT_DATABASE_URL", ""),
        help="SQLAlchemy URL, e.g. mysql+pymysql://user:pass@host/db. Env: GOCHAT_DATABASE_URL. "
        f"Default: an SQLite file in the user data directory ({default_database_url()}).",
    )
    parser.add_argument(
        "--redis-url",
        default=env.get("GOCHAT_REDIS_URL") or None,
        help="Redis URL for the user and room caches, e.g. redis://127.0.0.1:6379/0. "
        "Env: GOCHAT_REDIS_URL. Default: none (in-process cache).",
    )
    parser.add_argument(
        "--redis-prefix",
        default=env.get("GOCHAT_REDIS_PREFIX", DEFAULT_REDIS_PREFIX),
        help="Prefix of every Redis key; the database's own id follows it, so servers on different databases "
        "can share one Redis. Env: GOCHAT_REDIS_PREFIX. Default: gochat:.",
    )
    parser.add_argument(
        "--name",
        default=env.get("GOCHAT_SERVER_NAME", default_server_name()),
        help="The server's name, shown to people who find it on the network. "
        "Env: GOCHAT_SERVER_NAME. Default: this computer's name.",
    )
    parser.add_argument(
        "--announce",
        action=argparse.BooleanOptionalAction,
        default=env.get("GOCHAT_ANNOUNCE", "").lower() in ("1", "true", "yes"),
        help="Announce the server on the local network (DNS-SD, _gochat._tcp) so desktop apps can find it. "
        "Env: GOCHAT_ANNOUNCE=1. Default: off.",
    )
    parser.add_argument(
        "--max-client-backlog",
        type=int,
        default=int(env.get("GOCHAT_MAX_CLIENT_BACKLOG", "10000")),
        help="Frames queued for one client before it counts as not reading and is disconnected "
        "(close 1013; it catches up on reconnect). Env: GOCHAT_MAX_CLIENT_BACKLOG. Default: 10000.",
    )
    parser.add_argument(
        "--certfile",
        default=env.get("GOCHAT_CERTFILE") or None,
        help="PEM certificate (chain) for TLS: with --keyfile the port speaks only https/wss. "
        "Env: GOCHAT_CERTFILE. Default: none (plain http).",
    )
    parser.add_argument(
        "--keyfile",
        default=env.get("GOCHAT_KEYFILE") or None,
        help="PEM private key of --certfile. Env: GOCHAT_KEYFILE. Default: none.",
    )
    parser.add_argument(
        "--api-docs",
        action=argparse.BooleanOptionalAction,
        default=env.get("GOCHAT_API_DOCS", "").lower() in ("1", "true", "yes"),
        help="Serve the interactive API pages /docs (Swagger UI) and /redoc; /openapi.json is served either way. "
        "Env: GOCHAT_API_DOCS=1. Default: off.",
    )
    parser.add_argument(
        "--log-level",
        default=env.get("GOCHAT_LOG_LEVEL", "info").lower(),
        choices=LOG_LEVELS,
        help="Logging verbosity. Env: GOCHAT_LOG_LEVEL. Default: info.",
    )
    return parser


def settings_from_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if env is None else env
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    if args.log_level not in LOG_LEVELS:  # argparse checks choices only on the command line
        parser.error(f"GOCHAT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {args.log_level!r}")
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together: give both for TLS, or neither")
    return Settings(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        redis_url=args.redis_url,
        redis_prefix=args.redis_prefix,
        log_level=args.log_level,
        server_name=args.name,
        announce=args.announce,
        max_client_backlog=max(args.max_client_backlog, 1),
        certfile=args.certfile,
        keyfile=args.keyfile,
        api_docs=args.api_docs,
    )
