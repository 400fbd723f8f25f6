"""Server settings: one frozen object built from flags and environment (flag wins)."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from sqlalchemy.engine import make_url

APP_NAME = "gochat"
LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]
DEFAULT_REDIS_PREFIX = "gochat:"
DEFAULT_TOKEN_TTL_SECONDS = 30 * 24 * 3600.0
MAX_TOKEN_TTL_SECONDS = 3650 * 86400.0  # ten years: beyond that, dates overflow
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# A bearer token for GET /metrics on the public port is a password: too short to be one, refused.
MIN_METRICS_TOKEN_CHARS = 16


def default_data_dir() -> Path:
    """gochat's own folder in the user's data directory (the default database's; made 0700)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'gochat.sqlite3'}"


def default_hash_concurrency() -> int:
    """One hash per two cores, at most 2: each costs 19 MiB while it runs, and the server has
    chat to serve besides. On a 2-core box 2 at once took a 500-login storm to 160 MB (bench
    ``logins``) against 141 MB for 1, at 13 logins/s against 9: ample for a chat server."""
    return max(1, min(2, (os.cpu_count() or 1) // 2))


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
    # A bearer token ends this long after it was last used (sliding; docs/security.md).
    token_ttl: float = DEFAULT_TOKEN_TTL_SECONDS
    # Database timeouts (issue 12), in seconds: a database that hangs is an error, not a hang
    # (docs/security.md, "A slow database"; gochat.server.store.database.DatabaseTimeouts).
    db_connect_timeout: float = 3.0
    db_timeout: float = 4.0
    health_timeout: float = 1.0
    # Connections and bodies (issue 12; docs/security.md, "Bounded input and connections").
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # a REST request body; larger: 413
    header_timeout: float = 10.0  # seconds for a connection to send a request's headers
    body_timeout: float = 10.0  # seconds for a request's body to arrive after its headers
    keep_alive_timeout: int = 5  # whole seconds an idle keep-alive connection stays open (uvicorn's unit)
    max_connections: int = 20_000  # in total; lowered to fit the file-descriptor limit
    max_connections_per_address: int = 256  # 0: no limit
    max_pending_connections: int = 2_000  # connections that have not (yet) made a request
    forwarded_allow_ips: str = ""  # proxies whose X-Forwarded-For is believed; empty: none
    # The interactive API pages /docs and /redoc (off: nobody on the LAN needs them to chat).
    api_docs: bool = False
    # Throttling (issue 12): for floods, not people (docs/security.md, Throttling). A rate of 0
    # turns that limit off. Messages: per connection; each user gets twice that over all theirs.
    message_rate: float = 10.0
    message_burst: int = 50
    # Failed logins per username (per address: four times as many); registrations per address;
    # rooms created per user.
    login_per_minute: float = 5.0
    login_burst: int = 10
    register_per_minute: float = 6.0
    register_burst: int = 60
    room_create_per_minute: float = 6.0
    room_create_burst: int = 10
    # Password hashes (argon2id, 19 MiB each) computed at once; a login waits this long for a
    # turn before it is answered 429.
    hash_concurrency: int = field(default_factory=default_hash_concurrency)
    hash_wait: float = 5.0
    # Server admins by username (--admin, GOCHAT_ADMINS): they may delete any message.
    admins: tuple[str, ...] = ()
    # Prometheus metrics (docs/deploy.md, "Metrics"): GET /metrics on a listener of its own (None: none),
    # and/or on the public port for a bearer token (None: not there). The desktop's hosting
    # never sets either.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_token: str | None = None

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


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s`` or plain seconds (``3600``): a positive duration in seconds."""
    cleaned = text.strip().lower()
    unit = _TTL_UNITS.get(cleaned[-1:])
    number = cleaned[:-1] if unit is not None else cleaned
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30d, 12h, 90m or 3600") from None
    if not 0 < seconds <= MAX_TOKEN_TTL_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive duration of at most 3650d")
    return seconds


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text} seconds is outside 0-3600 (0 excluded)")
    return seconds


def _number(text: str, kind: type[int] | type[float], smallest: float, what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value < smallest or value != value:  # NaN is not a number of seconds either
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def _positive_int(text: str) -> int:
    return int(_number(text, int, 1, "a whole number of at least 1"))


def _non_negative_int(text: str) -> int:
    return int(_number(text, int, 0, "a whole number of at least 0"))


def _positive_float(text: str) -> float:
    value = _number(text, float, 0, "a number of seconds above 0")
    if value <= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _non_negative_float(text: str) -> float:
    return _number(text, float, 0, "a number of at least 0")


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
        help="Redis URL, e.g. redis://127.0.0.1:6379/0: the user and room caches live there, and this "
        "server is one of a cluster with every server on the same database and Redis (rooms, presence "
        "and frames shared; docs/deploy.md). Env: GOCHAT_REDIS_URL. Default: none (alone, in-process cache).",
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
    # Database timeouts (issue 12)
    parser.add_argument(
        "--db-connect-timeout",
        type=_seconds,
        default=env.get("GOCHAT_DB_CONNECT_TIMEOUT", "3"),
        help="Seconds to connect to MariaDB/MySQL before the request is answered 'unavailable'. "
        "Env: GOCHAT_DB_CONNECT_TIMEOUT. Default: 3.",
    )
    parser.add_argument(
        "--db-timeout",
        type=_seconds,
        default=env.get("GOCHAT_DB_TIMEOUT", "4"),
        help="Seconds any request waits for the database, and a message for its commit, before it is answered "
        "'unavailable' (503 or an error frame); also each statement's limit (SQLite's busy timeout, MariaDB's "
        "max_statement_time and socket timeouts). Env: GOCHAT_DB_TIMEOUT. Default: 4.",
    )
    parser.add_argument(
        "--health-timeout",
        type=_seconds,
        default=env.get("GOCHAT_HEALTH_TIMEOUT", "1"),
        help="Seconds /api/health waits for the database before answering 503 'down'. "
        "Env: GOCHAT_HEALTH_TIMEOUT. Default: 1.",
    )
    parser.add_argument(
        "--token-ttl",
        type=parse_duration,
        default=env.get("GOCHAT_TOKEN_TTL", "30d"),
        help="How long a login token lives after it was last used (each use renews it): a number with "
        "d, h, m or s, or plain seconds. Env: GOCHAT_TOKEN_TTL. Default: 30d.",
    )
    # Connections and bodies (issue 12)
    parser.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=env.get("GOCHAT_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)),
        help="Largest REST request body in bytes; a larger one is refused with 413 before it is read. "
        f"Env: GOCHAT_MAX_BODY_BYTES. Default: {DEFAULT_MAX_BODY_BYTES}.",
    )
    parser.add_argument(
        "--header-timeout",
        type=_positive_float,
        default=env.get("GOCHAT_HEADER_TIMEOUT", "10"),
        help="Seconds a connection has to send a request's headers (from connecting, or from its previous "
        "answer) before it is closed. Env: GOCHAT_HEADER_TIMEOUT. Default: 10.",
    )
    parser.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=env.get("GOCHAT_BODY_TIMEOUT", "10"),
        help="Seconds a REST request's body has to arrive once its headers have (else 408 and the connection "
        "is closed). Env: GOCHAT_BODY_TIMEOUT. Default: 10.",
    )
    parser.add_argument(
        "--keep-alive-timeout",
        type=_positive_int,
        default=env.get("GOCHAT_KEEP_ALIVE_TIMEOUT", "5"),
        help="Whole seconds an idle HTTP keep-alive connection stays open. Env: GOCHAT_KEEP_ALIVE_TIMEOUT. Default: 5.",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive_int,
        default=env.get("GOCHAT_MAX_CONNECTIONS", "20000"),
        help="Connections held at once, WebSockets included (lowered to fit the process's file-descriptor "
        "limit). Env: GOCHAT_MAX_CONNECTIONS. Default: 20000.",
    )
    parser.add_argument(
        "--max-connections-per-address",
        type=_non_negative_int,
        default=env.get("GOCHAT_MAX_CONNECTIONS_PER_ADDRESS", "256"),
        help="Connections held at once from one client address (0: no limit). "
        "Env: GOCHAT_MAX_CONNECTIONS_PER_ADDRESS. Default: 256.",
    )
    parser.add_argument(
        "--max-pending-connections",
        type=_positive_int,
        default=env.get("GOCHAT_MAX_PENDING_CONNECTIONS", "2000"),
        help="Connections that have not sent a request (yet, or since their last answer); past it the oldest "
        "is closed for a new one. Env: GOCHAT_MAX_PENDING_CONNECTIONS. Default: 2000.",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=env.get("GOCHAT_FORWARDED_ALLOW_IPS", ""),
        help="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For names the client "
        "(e.g. 127.0.0.1 for nginx on this machine). Env: GOCHAT_FORWARDED_ALLOW_IPS. "
        "Default: none (the socket's peer is the client).",
    )
    parser.add_argument(
        "--api-docs",
        action=argparse.BooleanOptionalAction,
        default=env.get("GOCHAT_API_DOCS", "").lower() in ("1", "true", "yes"),
        help="Serve the interactive API pages /docs (Swagger UI) and /redoc; /openapi.json is served either way. "
        "Env: GOCHAT_API_DOCS=1. Default: off.",
    )
    # Throttling (issue 12)
    parser.add_argument(
        "--message-rate",
        type=_non_negative_float,
        default=env.get("GOCHAT_MESSAGE_RATE", "10"),
        metavar="PER_SECOND",
        help="Messages a second one connection may keep sending (a user: twice that over all their connections); "
        "beyond it a send is answered with a rate_limited error frame. 0: no limit. "
        "Env: GOCHAT_MESSAGE_RATE. Default: 10.",
    )
    parser.add_argument(
        "--message-burst",
        type=_non_negative_int,
        default=env.get("GOCHAT_MESSAGE_BURST", "50"),
        metavar="N",
        help="Messages one connection may send at once before --message-rate applies (a user: twice that). "
        "Env: GOCHAT_MESSAGE_BURST. Default: 50.",
    )
    parser.add_argument(
        "--login-per-minute",
        type=_non_negative_float,
        default=env.get("GOCHAT_LOGIN_PER_MINUTE", "5"),
        help="Failed logins a minute per username (per address: four times as many), after --login-burst; "
        "each time the allowance runs out it refills half as fast. 0: no limit. "
        "Env: GOCHAT_LOGIN_PER_MINUTE. Default: 5.",
    )
    parser.add_argument(
        "--login-burst",
        type=_non_negative_int,
        default=env.get("GOCHAT_LOGIN_BURST", "10"),
        help="Failed logins per username allowed at once (per address: four times as many). "
        "Env: GOCHAT_LOGIN_BURST. Default: 10.",
    )
    parser.add_argument(
        "--register-per-minute",
        type=_non_negative_float,
        default=env.get("GOCHAT_REGISTER_PER_MINUTE", "6"),
        help="Registrations a minute per address, after --register-burst. 0: no limit. "
        "Env: GOCHAT_REGISTER_PER_MINUTE. Default: 6.",
    )
    parser.add_argument(
        "--register-burst",
        type=_non_negative_int,
        default=env.get("GOCHAT_REGISTER_BURST", "60"),
        help="Registrations per address allowed at once (a classroom behind one NAT). "
        "Env: GOCHAT_REGISTER_BURST. Default: 60.",
    )
    parser.add_argument(
        "--room-create-per-minute",
        type=_non_negative_float,
        default=env.get("GOCHAT_ROOM_CREATE_PER_MINUTE", "6"),
        help="Rooms a minute one user may create, after --room-create-burst. 0: no limit. "
        "Env: GOCHAT_ROOM_CREATE_PER_MINUTE. Default: 6.",
    )
    parser.add_argument(
        "--room-create-burst",
        type=_non_negative_int,
        default=env.get("GOCHAT_ROOM_CREATE_BURST", "10"),
        help="Rooms one user may create at once. Env: GOCHAT_ROOM_CREATE_BURST. Default: 10.",
    )
    parser.add_argument(
        "--hash-concurrency",
        type=_non_negative_int,
        default=env.get("GOCHAT_HASH_CONCURRENCY", str(default_hash_concurrency())),
        help="Password hashes (argon2id, 19 MiB each) computed at once; the rest wait their turn. "
        f"Env: GOCHAT_HASH_CONCURRENCY. Default: one per two CPUs, at most 2 ({default_hash_concurrency()} here).",
    )
    parser.add_argument(
        "--hash-wait",
        type=_non_negative_float,
        default=env.get("GOCHAT_HASH_WAIT", "5"),
        metavar="SECONDS",
        help="How long a login or registration waits for a hashing turn before it is answered 429. "
        "Env: GOCHAT_HASH_WAIT. Default: 5.",
    )
    parser.add_argument(
        "--admin",
        action="append",
        dest="admins",
        metavar="NAME",
        help="A server admin's username (repeat for more): admins may delete any message. "
        "Env: GOCHAT_ADMINS=name1,name2 (used only when no --admin is given). Default: none.",
    )
    # Metrics (issue 14; docs/deploy.md, "Metrics")
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=env.get("GOCHAT_METRICS_PORT") or None,
        help="Serve GET /metrics (Prometheus text format) on this port, on a listener of its own bound to "
        "--metrics-host (0 picks a free one). Env: GOCHAT_METRICS_PORT. Default: none (no metrics listener).",
    )
    parser.add_argument(
        "--metrics-host",
        default=env.get("GOCHAT_METRICS_HOST", "127.0.0.1"),
        help="Address of the metrics listener; only Prometheus needs to reach it. "
        "Env: GOCHAT_METRICS_HOST. Default: 127.0.0.1.",
    )
    parser.add_argument(
        "--metrics-token",
        default=env.get("GOCHAT_METRICS_TOKEN") or None,
        help="Also serve GET /metrics on the public port, to requests carrying 'Authorization: Bearer TOKEN' "
        f"(at least {MIN_METRICS_TOKEN_CHARS} characters); any other request for it is answered 404. "
        "Prefer the env var: a flag shows in the process list. Env: GOCHAT_METRICS_TOKEN. Default: none.",
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
    if args.metrics_token is not None and len(args.metrics_token) < MIN_METRICS_TOKEN_CHARS:
        parser.error(f"--metrics-token (GOCHAT_METRICS_TOKEN) must be at least {MIN_METRICS_TOKEN_CHARS} characters")
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
        token_ttl=args.token_ttl,
        db_connect_timeout=args.db_connect_timeout,
        db_timeout=args.db_timeout,
        health_timeout=args.health_timeout,
        max_body_bytes=args.max_body_bytes,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections,
        max_connections_per_address=args.max_connections_per_address,
        max_pending_connections=args.max_pending_connections,
        forwarded_allow_ips=args.forwarded_allow_ips.strip(),
        api_docs=args.api_docs,
        message_rate=args.message_rate,
        message_burst=args.message_burst,
        login_per_minute=args.login_per_minute,
        login_burst=args.login_burst,
        register_per_minute=args.register_per_minute,
        register_burst=args.register_burst,
        room_create_per_minute=args.room_create_per_minute,
        room_create_burst=args.room_create_burst,
        hash_concurrency=max(args.hash_concurrency, 1),
        hash_wait=args.hash_wait,
        admins=admin_names(args.admins, environ.get("GOCHAT_ADMINS", "")),
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        metrics_token=args.metrics_token,
    )


def admin_names(flags: Sequence[str] | None, env_value: str) -> tuple[str, ...]:
    """The admins' usernames: every --admin when there is one (the flag wins over the env, as
    everywhere), else GOCHAT_ADMINS split at commas; blanks dropped."""
    names = flags if flags else env_value.split(",")
    return tuple(name.strip() for name in names if name.strip())
