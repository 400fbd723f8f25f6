"""The hosting section of the benchmark runs the hosting app and a plain client side by side and
reports every figure (a tiny run, not a measurement: nothing here is about the targets)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_bench

OTHER_SECTIONS = "cluster,fanout,ingest,mariadb,latency,connections,desktop,flood,logins,search"


def test_a_tiny_hosting_run_reports_both_apps_on_the_same_messages(tmp_path: Path) -> None:
    report, stdout = run_bench(
        tmp_path,
        "--skip",
        OTHER_SECTIONS,
        "--hosting-rates",
        "20,200",
        "--hosting-seconds",
        "2,1",
        "--hosting-rooms",
        "3",
        "--runs",
        "1",
    )
    hosting = report["hosting"]
    assert (hosting["rooms"], hosting["platform"]) == (3, "offscreen")
    assert hosting["focus"] == {"host": "elsewhere", "plain": "elsewhere"}
    [run] = hosting["runs"]
    for rate, count, measured, row in zip((20, 200), (40, 200), run["rounds"], hosting["rows"], strict=True):
        assert (measured["rate"], row["rate"]) == (rate, rate)
        sender = measured["sender"]
        assert sender["sent"] == sender["acknowledged"] == count
        assert 0.75 * rate <= sender["send_rate"] <= 1.25 * rate
        for app in ("host", "plain"):
            figures = measured[app]
            # Every message reached the screen in both apps (painted, or scrolled past to a newer one).
            assert figures["painted"] + figures["dropped"] == count
            assert figures["painted"] >= count // 2
            for kind in ("commit_to_painted", "send_to_painted", "commit_to_shown"):
                lag = figures[kind]
                assert 0 < lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"] < 30_000, (app, kind, lag)
            # Painted after it was shown, and shown after it was committed.
            assert figures["commit_to_shown"]["p50_ms"] <= figures["commit_to_painted"]["p50_ms"]
            assert 0 < figures["ui_cpu_share"] <= figures["cpu_share"] < 4
        # Only the hosting app runs the server: its threads show up there alone.
        assert {"gochat-server", "gochat-writer"} <= set(measured["host"]["thread_cpu_share"])
        assert "gochat-server" not in measured["plain"]["thread_cpu_share"]
        assert row["host_p99_ms"] == measured["host"]["commit_to_painted"]["p99_ms"]
        assert row["plain_p99_ms"] == measured["plain"]["commit_to_painted"]["p99_ms"]
        assert row["p99_ratio"] == row["host_p99_ms"] / max(row["plain_p99_ms"], 1.0)
    assert hosting["targets"] == {"at_rate": 200, "host_p99_ms": 100.0, "p99_ratio": 1.5}
    assert set(hosting["met"]) == {"host_p99_ms", "p99_ratio"}
    for line in ("hosting app vs a plain client in the same run", "at 20 messages/s for 2 s", "at 200 messages/s"):
        assert line in stdout
