"""deploy/systemd/: the unit runs the package's own console script, systemd accepts it and rates its
hardening well, and every setting in the example environment file is one the server reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gochat.server.config import build_parser, settings_from_args
from tests.helpers import REPOSITORY, scaled

SYSTEMD = REPOSITORY / "deploy" / "systemd"
UNIT = SYSTEMD / "gochat-server@.service"
TARGET = SYSTEMD / "gochat-server.target"
ENV_FILE = SYSTEMD / "server.env"
# systemd-analyze security's scale: 0 (locked down) to 10 (unsafe); "OK" is below 2.
EXPOSURE_AT_MOST = 2.0


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every Key=value of a unit file, in order, keys repeated as systemd allows."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def environment(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    )


@pytest.fixture
def systemd_analyze() -> str:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd; .ci/run installs it)")
    return binary


@pytest.fixture
def installed_unit(tmp_path: Path) -> Path:
    """The unit as systemd would load it for instance 8081, with ExecStart on an executable that
    exists here (systemd-analyze checks that) and the example environment file."""
    unit = UNIT.read_text()
    (exec_start,) = unit_settings(unit)["ExecStart"]
    (environment_file,) = unit_settings(unit)["EnvironmentFile"]
    text = unit.replace(exec_start.split()[0], sys.executable).replace(environment_file, str(ENV_FILE))
    (tmp_path / UNIT.name).write_text(text)
    shutil.copy(TARGET, tmp_path / TARGET.name)
    return tmp_path / "gochat-server@8081.service"


def test_the_unit_runs_the_servers_console_script_on_the_instances_port() -> None:
    settings = unit_settings(UNIT.read_text())
    (exec_start,) = settings["ExecStart"]
    program, *arguments = exec_start.split()
    scripts = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[Path(program).name] == "gochat.server.__main__:main"  # what python -m gochat.server runs
    assert arguments == ["--port", "%i"]
    assert settings["User"] == ["gochat"]
    assert settings["Restart"] == ["on-failure"]


def test_systemd_accepts_the_unit(systemd_analyze: str, installed_unit: Path) -> None:
    """systemd-analyze verify: no unknown key, no bad value (it says so on stderr, exit code 0)."""
    result = subprocess.run(
        [systemd_analyze, "verify", "--man=no", str(installed_unit)],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_the_units_hardening_rates_ok(systemd_analyze: str, installed_unit: Path) -> None:
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", "--no-pager", str(installed_unit)],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout[-2000:]
    assert float(match[1]) <= EXPOSURE_AT_MOST, result.stdout


def test_every_example_setting_is_one_the_server_reads() -> None:
    env = environment(ENV_FILE)
    described = " ".join(build_parser({}).format_help().split())  # help wraps its lines
    for name in env:
        assert f"Env: {name}" in described, f"{name} is not a setting of gochat-server"
    assert "GOCHAT_PORT" not in env  # the instance's name gives the port
    settings = settings_from_args(["--port", "8081"], env)
    assert settings.database_url == env["GOCHAT_DATABASE_URL"]
    assert settings.redis_url == env["GOCHAT_REDIS_URL"]
    assert settings.forwarded_allow_ips == "127.0.0.1"
    assert settings.port == 8081
