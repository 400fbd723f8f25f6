"""The bench's cluster section (bench/cluster.py) runs over real server processes on MariaDB and
Redis and reports every figure it claims (a tiny run, not a measurement)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MARIADB_ADMIN_URL, RedisTarget
from tests.helpers import run_bench

OTHER_SECTIONS = "fanout,ingest,latency,connections,desktop,hosting,flood,logins,search"


def test_a_tiny_cluster_run_reports_fanout_ratios_and_the_hop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_mariadb_database: Callable[[], str],
    redis_target: RedisTarget,
) -> None:
    new_mariadb_database()  # MariaDB answers (or the test skips, or fails under GOCHAT_REQUIRE_SERVICES)
    monkeypatch.setenv("GOCHAT_BENCH_MARIADB_URL", MARIADB_ADMIN_URL)
    report, stdout = run_bench(
        tmp_path,
        "--skip",
        OTHER_SECTIONS,
        "--runs",
        "1",
        "--cluster-sizes",
        "6",
        "--messages",
        "8",
        "--cluster-hop-clients",
        "4",
        "--latency-seconds",
        "2",
        "--latency-clients",
        "3",
        "--ingest-seconds",
        "1",
        "--cluster-redis-url",
        redis_target.url,
    )
    cluster = report["cluster"]

    [row] = cluster["fanout"]
    assert (row["clients"], row["messages"]) == (6, 8)
    for variant, instances in (("alone", 1), ("one", 1), ("two", 2)):
        figures = row[variant]
        assert figures["instances"] == instances
        assert figures["deliveries_per_second"] > 0
        # Every client got every message once, in rising id order, through Redis or not.
        assert (figures["lost"], figures["duplicated"], figures["reordered"]) == (0, 0, 0)
        assert len(figures["server_cpu_shares"]) == instances
        assert 0 < figures["machine_busy_share"] <= 1
    assert row["ratio_two_to_one"] == row["two"]["deliveries_per_second"] / row["one"]["deliveries_per_second"]
    assert row["ratio_one_to_alone"] == row["one"]["deliveries_per_second"] / row["alone"]["deliveries_per_second"]
    assert "cluster fan-out N=    6 M=8: two instances" in stdout

    hop = cluster["hop"]
    assert (hop["clients"], hop["rate"]) == (4, 20)
    for side in ("same", "other"):
        figures = hop[side]
        # 2 s at 20 messages/s to each of the 2 clients on each side, none lost, repeated or out of order.
        assert figures["samples"] == 2 * 40
        assert (figures["lost"], figures["duplicated"], figures["reordered"]) == (0, 0, 0)
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 5_000
    [run] = hop["runs"]
    assert hop["added_p50_ms"] == run["other"]["p50_ms"] - run["same"]["p50_ms"]
    assert hop["added_p99_ms"] == run["other"]["p99_ms"] - run["same"]["p99_ms"]
    assert "cluster hop N=    4 at 20/s, two instances" in stdout
    cost = cluster["redis_cost"]
    for variant in ("alone", "one"):
        latency = cost["latency"][variant]
        assert (latency["lost"], latency["duplicated"], latency["reordered"]) == (0, 0, 0)
        assert 0 < latency["p50_ms"] <= latency["p99_ms"] < 5_000
        assert cost["ingest"][variant]["acknowledged_per_second"] > 0
    assert cost["latency"]["p99_ratio"] == cost["latency"]["one"]["p99_ms"] / cost["latency"]["alone"]["p99_ms"]
    assert cost["ingest"]["ratio"] == (
        cost["ingest"]["one"]["acknowledged_per_second"] / cost["ingest"]["alone"]["acknowledged_per_second"]
    )
    assert "cluster --redis-url on one instance, latency N=    3 at 20/s" in stdout
    assert "cluster --redis-url on one instance, durable ingest with 50 senders" in stdout
    assert "cluster: what limits the ratio here: " in cluster["limits"]
    assert cluster["limits"] in stdout
