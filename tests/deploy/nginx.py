"""Debian's nginx as a test's own process, running deploy/nginx/gochat.conf: the shipped file with
only the listen line, the upstream's server lines and the access log's folder replaced."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import REPOSITORY, scaled

SHIPPED_CONF = REPOSITORY / "deploy" / "nginx" / "gochat.conf"
_SHIPPED_LISTEN = re.compile(r"^    listen 80;$", re.MULTILINE)
SHIPPED_LOG_FOLDER = "/var/log/nginx/"
_SHIPPED_SERVER_LINE = re.compile(r"^    server 127\.0\.0\.1:\d+ (?P<options>[^;]*);$", re.MULTILINE)
# Added around the shipped file by the test only: which instance served an answer (the WebSocket
# handshake's 101 included). The shipped file has no add_header of its own, so its locations
# inherit this one.
UPSTREAM_HEADER = "X-Gochat-Upstream"


def nginx_binary() -> str | None:
    """Debian's nginx (apt install nginx; .ci/run installs it), wherever PATH has it."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )


def render(shipped: str, *, listen: str, upstreams: Sequence[str], log_folder: Path) -> str:
    """The shipped configuration for this test: the same text, except ``listen`` (host:port), one
    upstream server line per address in ``upstreams`` (with the shipped lines' options), and the
    access log in ``log_folder``. Each replaced part must be found exactly where it is expected:
    a change to the shipped file that this cannot follow fails here, not later in nginx."""
    assert len(_SHIPPED_LISTEN.findall(shipped)) == 1, "the shipped server should have one `listen 80;`"
    servers = list(_SHIPPED_SERVER_LINE.finditer(shipped))
    assert servers, "the shipped upstream should list its instances as `server 127.0.0.1:PORT ...;`"
    assert shipped.count(SHIPPED_LOG_FOLDER) == 1, "the shipped file should log to /var/log/nginx/ once"
    options = servers[0].group("options")
    lines = "\n".join(f"    server {address} {options};" for address in upstreams)
    first, last = servers[0], servers[-1]
    text = shipped[: first.start()] + lines + shipped[last.end() :]
    text = _SHIPPED_LISTEN.sub(f"    listen {listen};", text)
    return text.replace(SHIPPED_LOG_FOLDER, f"{log_folder}/")


def main_conf(folder: Path, site: Path) -> str:
    """nginx.conf around the site: everything nginx writes (pid, logs, temporary files) in ``folder``."""
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind}_temp;" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Run as root (CI), nginx's workers would switch to nobody, who may not enter the test's folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        f"pid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"{temp}\n"
        f"    add_header {UPSTREAM_HEADER} $upstream_addr always;\n"
        f"    include {site};\n"
        "}\n"
    )


@dataclass(frozen=True, slots=True)
class Nginx:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    site: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.folder / "gochat.access.log"

    def logged_problems(self) -> list[str]:
        """The error log's lines (nginx writes warn and worse there)."""
        path = self.folder / "error.log"
        return path.read_text().splitlines() if path.exists() else []


@contextmanager
def running_nginx(binary: str, folder: Path, port: int, upstreams: Sequence[str]) -> Iterator[Nginx]:
    """nginx in the foreground on 127.0.0.1:``port`` in front of ``upstreams``, until the block ends;
    it answers /api/health through an instance before this yields."""
    folder.mkdir(parents=True, exist_ok=True)
    site = folder / "gochat.conf"
    site.write_text(
        render(SHIPPED_CONF.read_text(), listen=f"127.0.0.1:{port}", upstreams=upstreams, log_folder=folder)
    )
    conf = folder / "nginx.conf"
    conf.write_text(main_conf(folder, site))
    # -e: the error log before the configuration is read, so nothing goes to /var/log/nginx.
    command = [binary, "-p", f"{folder}/", "-e", str(folder / "error.log"), "-c", str(conf)]
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True, timeout=scaled(30))
    assert checked.returncode == 0, f"nginx -t refused the rendered configuration:\n{checked.stderr}"
    process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + scaled(30)
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"nginx exited with {process.returncode}: {stderr}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nginx did not answer /api/health"
            time.sleep(0.05)
        yield Nginx(process, port, folder, site)
    finally:
        # SIGTERM: nginx's fast shutdown (SIGQUIT would wait for every WebSocket to end).
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(scaled(10))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


@dataclass(frozen=True, slots=True)
class Directive:
    """One nginx directive: its name, its arguments (quotes removed), its block if it has one."""

    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]

    def one(self, name: str, *args: str) -> Directive:
        """The only directive ``name`` here whose arguments start with ``args``."""
        found = [d for d in self.all(name) if d.args[: len(args)] == args]
        assert len(found) == 1, f"{self.name} {' '.join(self.args)}: {len(found)} of {name} {' '.join(args)}"
        return found[0]

    def value(self, name: str) -> str:
        (value,) = self.one(name).args
        return value


_TOKEN = re.compile(r"""#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};'"#]+)""")


def parse(text: str) -> Directive:
    """nginx's configuration syntax (directives, blocks, quoted strings, comments) as a tree under
    a root directive named ``""``: enough to read a value, not to check one (nginx -t does)."""
    stack: list[tuple[str, tuple[str, ...], list[Directive]]] = [("", (), [])]
    words: list[str] = []
    for match in _TOKEN.finditer(text):
        single, double, punctuation, word = match.groups()
        if punctuation == ";":
            stack[-1][2].append(Directive(words[0], tuple(words[1:])))
            words = []
        elif punctuation == "{":
            stack.append((words[0], tuple(words[1:]), []))
            words = []
        elif punctuation == "}":
            name, args, children = stack.pop()
            stack[-1][2].append(Directive(name, args, tuple(children)))
        elif word is not None or single is not None or double is not None:
            words.append(next(part for part in (single, double, word) if part is not None))
    assert len(stack) == 1, "a block is not closed"
    assert not words, "the last directive has no `;`"
    return Directive("", (), tuple(stack[0][2]))


_TIME_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024**3}


def seconds(value: str) -> float:
    """An nginx time (``90s``, ``1m``, ``500ms``, ``30``: seconds) in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value.lower())
    assert match is not None, f"{value!r} is not an nginx time"
    return int(match[1]) * _TIME_UNITS[match[2] or "s"]


def size(value: str) -> int:
    """An nginx size (``64k``, ``1m``, ``1024``) in bytes."""
    match = re.fullmatch(r"(\d+)([kmg]?)", value.lower())
    assert match is not None, f"{value!r} is not an nginx size"
    return int(match[1]) * _SIZE_UNITS[match[2]]
