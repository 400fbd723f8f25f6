"""The connection and body limits of issue 12 as an admin sets them: flags, environment variables,
defaults, clear errors; and the file-descriptor limit the server raises for itself."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from gochat.server.config import Settings, settings_from_args
from gochat.server.descriptors import RESERVED_DESCRIPTORS, connection_budget

PROXIES = "10.0.0.1,10.0.1.0/24"
LIMITS = [
    # flag, env, value given, field, value in Settings, default
    ("--max-body-bytes", "GOCHAT_MAX_BODY_BYTES", "1000", "max_body_bytes", 1000, 65536),
    ("--header-timeout", "GOCHAT_HEADER_TIMEOUT", "2.5", "header_timeout", 2.5, 10.0),
    ("--body-timeout", "GOCHAT_BODY_TIMEOUT", "3", "body_timeout", 3.0, 10.0),
    ("--keep-alive-timeout", "GOCHAT_KEEP_ALIVE_TIMEOUT", "7", "keep_alive_timeout", 7, 5),
    ("--max-connections", "GOCHAT_MAX_CONNECTIONS", "500", "max_connections", 500, 20_000),
    ("--max-connections-per-address", "GOCHAT_MAX_CONNECTIONS_PER_ADDRESS", "0", "max_connections_per_address", 0, 256),
    ("--max-pending-connections", "GOCHAT_MAX_PENDING_CONNECTIONS", "50", "max_pending_connections", 50, 2_000),
    ("--forwarded-allow-ips", "GOCHAT_FORWARDED_ALLOW_IPS", PROXIES, "forwarded_allow_ips", PROXIES, ""),
]


@pytest.mark.parametrize(("flag", "env", "given", "field", "value", "default"), LIMITS)
def test_each_limit_has_a_flag_an_env_var_and_a_default(
    flag: str, env: str, given: str, field: str, value: object, default: object
) -> None:
    assert getattr(settings_from_args([], {}), field) == default
    assert getattr(Settings(), field) == default
    assert getattr(settings_from_args([flag, given], {}), field) == value
    assert getattr(settings_from_args([], {env: given}), field) == value


@pytest.mark.parametrize(
    ("flag", "bad"),
    [
        ("--max-body-bytes", "0"),
        ("--max-body-bytes", "lots"),
        ("--header-timeout", "0"),
        ("--header-timeout", "nan"),
        ("--header-timeout", "inf"),
        ("--body-timeout", "-1"),
        ("--keep-alive-timeout", "0.5"),
        ("--max-connections", "0"),
        ("--max-connections-per-address", "-1"),
        ("--max-pending-connections", "0"),
    ],
)
def test_a_bad_value_is_a_usage_error(flag: str, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args([flag, bad], {})
    assert exited.value.code == 2
    assert repr(bad) in capsys.readouterr().err


def test_the_help_names_every_limit() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gochat.server", "--help"], capture_output=True, text=True, check=True
    )
    text = " ".join(result.stdout.split())
    for flag, env, *_ in LIMITS:
        assert flag in text
        assert env in text


def test_the_connection_cap_leaves_descriptors_for_everything_else() -> None:
    assert connection_budget(20_000, 1_048_576) == 20_000
    assert connection_budget(20_000, 20_000) == 20_000 - RESERVED_DESCRIPTORS
    assert connection_budget(20_000, 100) == 1


def test_the_server_raises_its_descriptor_soft_limit_to_the_hard_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 512:
        pytest.skip("the hard limit leaves nothing to raise")
    # A process started with a low soft limit (the usual 1024), as a service manager may start it.
    script = (
        "import logging, resource, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
        "from gochat.server.config import Settings\n"
        "from gochat.server.runner import GochatServer\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, (256, {hard}))\n"
        "GochatServer(Settings(port=0, database_url='sqlite://'))\n"
        "print('soft', resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert f"soft {hard}" in result.stdout
    budget = connection_budget(20_000, hard)
    assert f"file descriptors: {hard}; connections at most {budget} in total, 256 per address" in result.stdout
