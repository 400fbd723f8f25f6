"""The architecture in one line, checked: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "gochat"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_protocol_imports_nothing_of_ours() -> None:
    assert not {name for name in imports_of(ROOT / "protocol.py") if name.startswith("gochat")}


def test_server_never_imports_qt_or_the_desktop() -> None:
    for path in modules(ROOT / "server"):
        bad = {n for n in imports_of(path) if n.startswith(("PySide6", "qasync", "gochat.desktop"))}
        assert not bad, (path, bad)


FEATURES = ("account", "rooms", "chat", "hosting", "discovery", "search")


def widget_modules() -> list[Path]:
    """Everything of the desktop that draws: the shared window parts, and each feature's
    modules but its controller (the one QObject that may talk to the network layer)."""
    desktop = ROOT / "desktop"
    found = modules(desktop / "windows")
    for feature in FEATURES:
        found += [path for path in modules(desktop / feature) if path.name != "controller.py"]
    return found


def test_every_feature_has_its_controller() -> None:
    for feature in FEATURES:
        assert (ROOT / "desktop" / feature / "controller.py").is_file(), feature


def test_windows_never_touch_the_network() -> None:
    network = (
        "gochat.discovery",
        "zeroconf",
        "httpx",
        "websockets",
        "gochat.desktop.api",
        "gochat.desktop.connection",
        "gochat.desktop.session",
        "gochat.desktop.tls",
        "gochat.server",
        *(f"gochat.desktop.{feature}.controller" for feature in FEATURES),
    )
    for path in widget_modules():
        bad = {n for n in imports_of(path) if n.startswith(network)}
        assert not bad, (path, bad)


def test_features_do_not_reach_into_each_others_controllers() -> None:
    """A feature's controller may use the session and, for the chat, the room list's; no other."""
    allowed = {"chat": {"gochat.desktop.rooms.controller"}}
    for feature in FEATURES:
        for path in modules(ROOT / "desktop" / feature):
            others = {
                n
                for n in imports_of(path)
                if n.startswith("gochat.desktop.")
                and n.endswith(".controller")
                and not n.startswith(f"gochat.desktop.{feature}.")
            }
            assert others <= allowed.get(feature, set()), (path, others)


def test_pure_client_state_has_no_qt_and_no_io() -> None:
    pure = ("state.py", "typing_now.py", "direct.py", "hosting/options.py", "chat/completion.py")
    for path in (ROOT / "desktop" / name for name in pure):
        bad = {n for n in imports_of(path) if n.startswith(("PySide6", "httpx", "websockets", "asyncio"))}
        assert not bad, (path, bad)


def test_client_network_layer_has_no_qt() -> None:
    for name in ("api.py", "connection.py"):
        bad = {n for n in imports_of(ROOT / "desktop" / name) if n.startswith(("PySide6", "qasync"))}
        assert not bad, (name, bad)


def test_transport_talks_only_to_the_domain() -> None:
    """REST and WebSocket see services, ServerContext and the protocol: never storage, its
    driver or its records (storage failures reach them as the domain's StorageUnavailable)."""
    storage = ("sqlalchemy", "pymysql", "redis", "gochat.server.store", "gochat.server.records", "gochat.server.cache")
    for name in ("ws.py", "api.py", "api_messages.py", "api_people.py", "api_search.py", "app.py", "http_errors.py"):
        bad = {n for n in imports_of(ROOT / "server" / name) if n.startswith(storage)}
        assert not bad, (name, bad)


def test_the_domain_never_sees_the_database_driver() -> None:
    domain = (
        "chat.py",
        "rooms.py",
        "reading.py",
        "history.py",
        "accounts.py",
        "hub.py",
        "context.py",
        "errors.py",
        "direct.py",
        "people.py",
        "search.py",
    )
    for name in domain:
        bad = {n for n in imports_of(ROOT / "server" / name) if n.startswith(("sqlalchemy", "pymysql"))}
        assert not bad, (name, bad)
