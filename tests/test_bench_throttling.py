"""The flood and login-storm rows of the benchmark run and report every figure (a tiny run, not a
measurement: the targets are for `make bench`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.logins import source_address
from tests.helpers import run_bench

OTHER_SECTIONS = "cluster,fanout,ingest,mariadb,latency,connections,desktop,hosting,search"


def test_login_storm_clients_each_have_an_address_of_their_own() -> None:
    addresses = [source_address(n) for n in range(5000)]
    assert len(set(addresses)) == 5000
    assert all(a.startswith("127.") and not a.startswith("127.0.0.") for a in addresses)


# Three servers for the flood (quiet, flooded, flooded without the limit) and one for the storm:
# some 40 s alone, longer on a machine shared with the rest of the suite.
@pytest.mark.timeout(300)
def test_a_tiny_flood_and_login_storm_report_every_figure(tmp_path: Path) -> None:
    report, stdout = run_bench(
        tmp_path,
        "--skip",
        OTHER_SECTIONS,
        "--runs",
        "1",
        "--flood-clients",
        "3",
        "--flood-rate",
        "5",
        "--flood-seconds",
        "1",
        "--storm-users",
        "10",
        "--workers",
        "2",
    )
    flood = report["flood"]
    assert (flood["clients"], flood["rate"], flood["target_ratio"]) == (3, 5, 1.5)
    for case in ("quiet", "flooded", "flooded_unlimited"):
        assert 0 < flood[case]["p50_ms"] <= flood[case]["p99_ms"]
        assert flood[case]["lost"] == 0  # the normal traffic passes the default limit untouched
    flooded, unlimited = flood["flooded"], flood["flooded_unlimited"]
    assert flooded["flood_refused"] > 0  # the flood met the limit ...
    assert unlimited["flood_refused"] == 0  # ... and without it, nothing was refused
    # At 10 a second after a burst of 50, the flood's stored rate is far below what it sent.
    assert flooded["flood_stored_per_second"] < flooded["flood_sent_per_second"] / 2
    assert flood["p99_ratio"] == flooded["p99_ms"] / flood["quiet"]["p99_ms"]
    assert "flood beside N=3 at 5/s" in stdout

    logins = report["logins"]
    assert logins["users"] == 10
    [run] = logins["runs"]
    assert 0 < run["rss_before_mb"] <= run["rss_peak_mb"]
    assert run["rss_after_mb"] > 0
    assert run["logins_per_second"] > 0
    assert "login storm of 10 from as many addresses" in stdout
