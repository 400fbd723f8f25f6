"""The benchmark harness itself runs and checks what it claims (a tiny run, not a measurement)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.__main__ import parse_arguments
from bench.processes import shares
from tests.helpers import run_bench


def test_client_processes_are_one_per_cpu_unless_the_flag_says_otherwise() -> None:
    assert parse_arguments([]).workers == (os.cpu_count() or 1)
    assert parse_arguments(["--workers", "3"]).workers == 3
    with pytest.raises(SystemExit):
        parse_arguments(["--workers", "0"])
    # Clients are dealt round-robin; a process with none to run is not started.
    assert shares(list(range(5)), 3) == [[0, 3], [1, 4], [2]]
    assert shares(["only"], 4) == [["only"]]


def test_a_tiny_benchmark_run_reports_every_figure(tmp_path: Path) -> None:
    report, stdout = run_bench(
        tmp_path,
        "--sizes",
        "5",
        "--messages",
        "5",
        "--runs",
        "1",
        "--ingest-seconds",
        "1",
        "--skip",
        "cluster,mariadb,latency,connections,desktop,hosting,flood,logins,search",  # the others have tests of their own
        "--workers",
        "3",
    )
    assert report["workers"] == 3
    [row] = report["fanout"]
    for side in ("gochat", "reference"):
        assert row[side]["deliveries_per_second"] > 0
        assert (row[side]["lost"], row[side]["duplicated"], row[side]["reordered"]) == (0, 0, 0)
    assert row["ratio"] > 0
    [sqlite] = report["ingest"]
    assert sqlite["backend"] == "sqlite"
    assert sqlite["acknowledged_per_second"] > 0
    assert report["disk_flush_ms"] > 0
    assert "disk flush (fsync of 4 KiB) here: median" in stdout
    assert "fan-out N=    5" in stdout


def test_a_tiny_run_reports_latency_and_idle_connections(tmp_path: Path) -> None:
    report, stdout = run_bench(
        tmp_path,
        "--skip",
        "cluster,fanout,ingest,desktop,hosting,flood,logins,search",
        "--runs",
        "1",
        "--latency-clients",
        "5",
        "--latency-seconds",
        "2",
        "--connection-sizes",
        "20",
        "--hold-seconds",
        "2",
    )

    latency = report["latency"]
    assert (latency["clients"], latency["rate"]) == (5, 20)
    for side in ("gochat", "reference"):
        figures = latency[side]
        # 2 s at 20 messages/s, to each of the 5 clients; none lost, repeated or out of order.
        assert figures["samples"] == 5 * 40
        assert (figures["lost"], figures["duplicated"], figures["reordered"]) == (0, 0, 0)
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 5_000
        # CPU comes in clock ticks: the reference may well use none of them for so little.
        assert 0 <= figures["server_cpu_share"] < 1.5
        assert 0 < figures["generator_cpu_share"] < 1.5
    assert latency["gochat"]["server_cpu_share"] > 0
    assert latency["p99_ratio"] == latency["gochat"]["p99_ms"] / latency["reference"]["p99_ms"]
    assert "latency N=    5 at 20/s" in stdout

    [row] = report["connections"]
    assert (row["connections"], row["hold_seconds"]) == (20, 2)
    for side in ("gochat", "reference"):
        [run] = row[side]["runs"]
        assert run["opened"] == 20
        assert run["all_held"]
        assert run["dropped"] == 0
        # Twenty connections are too few for a precise figure, but never a negative or absurd one.
        assert 0 <= row[side]["rss_per_connection"] < 1024 * 1024
        assert run["rss_before"] > 0
    # The server itself counts the authenticated connections, before and after the hold.
    [gochat_run] = row["gochat"]["runs"]
    assert gochat_run["server_connections"] == gochat_run["server_connections_after_hold"] == 20
    assert "idle connections N=    20" in stdout


def test_a_tiny_search_run_reports_latency_on_both_backends(tmp_path: Path) -> None:
    report, stdout = run_bench(
        tmp_path,
        "--skip",
        "cluster,fanout,ingest,latency,connections,desktop,hosting,flood,logins",
        "--runs",
        "2",
        "--search-messages",
        "3000",
        "--search-queries",
        "4",
    )
    sqlite, mariadb = report["search"]
    assert (sqlite["backend"], mariadb["backend"]) == ("sqlite", "mariadb")
    for row in (sqlite, mariadb):
        assert row["messages"] == 3000
        assert len(row["rounds"]) == 2
        kinds = ("2 chars", "3+ chars", "2 chars, rare", "3+ chars, common", "3+ chars, rare, in one room")
        for kind in (*kinds, "3+ chars, rare, in every room"):
            assert 0 < row["latency"][kind]["p50_ms"] <= row["latency"][kind]["p99_ms"]
        # The queries find what the text holds: common words fill pages, the rare ones are rare.
        common, rare = row["rounds"][0]["3+ chars, common"], row["rounds"][0]["3+ chars, rare"]
        assert common["found"] > rare["found"] > 0
    assert "search on sqlite   over 3,000 messages, 2 chars" in stdout
    assert "(target on SQLite: p99 ≤ 50 ms)" in stdout
