"""LAN discovery (multicast DNS) tested inside a network namespace this test creates, so
no mDNS packet ever leaves the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[1]

SETUP = "ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo"


def _namespace_available() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is not installed"
    probe = subprocess.run(["unshare", "--net", "sh", "-c", SETUP], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip() or probe.returncode}"
    return None


def test_discovery_inside_a_private_network_namespace(tmp_path: Path) -> None:
    """Runs tests/desktop/netns/ inside `unshare --net` with mDNS limited to that namespace's loopback."""
    reason = _namespace_available()
    if reason is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (GOCHAT_REQUIRE_SERVICES=1 makes this a failure)")
        pytest.skip(reason)
    env = {
        **os.environ,
        "GOCHAT_IN_NETNS": "1",
        "GOCHAT_MDNS_INTERFACES": "127.0.0.1",
        "QT_QPA_PLATFORM": "offscreen",
        "GOCHAT_REQUIRE_SERVICES": "0",
    }
    command = f"{SETUP} && exec {sys.executable} -m pytest -p no:cacheprovider -q tests/desktop/netns"
    result = subprocess.run(
        ["unshare", "--net", "sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "2 passed" in output, output[-3000:]
