"""The desktop section of the benchmark runs the real app and reports every figure (a tiny run,
not a measurement: small sizes, so nothing here is about the targets)."""

from __future__ import annotations

from pathlib import Path

from gochat.desktop.chat.controller import KEEP_ROWS
from tests.helpers import run_bench

OTHER_SECTIONS = "cluster,fanout,ingest,mariadb,latency,connections,hosting,flood,logins,search"


def test_a_tiny_desktop_run_reports_every_figure(tmp_path: Path) -> None:
    report, stdout = run_bench(
        tmp_path,
        "--skip",
        OTHER_SECTIONS,
        "--desktop-messages",
        "2000",
        "--desktop-rate",
        "200",
        "--desktop-seconds",
        "2",
        "--desktop-scrollback",
        "400",
        "--runs",
        "1",
    )
    desktop = report["desktop"]
    [run] = desktop["runs"]

    # Opening: painted after the room state arrived, in a believable time.
    assert 0 < run["open_to_first_paint_ms"] <= run["open_to_painted_ms"] < 30_000
    assert 0 < run["open_to_room_state_ms"] <= run["open_to_painted_ms"]
    # The load: every message sent at the rate, acknowledged and seen by the app, lag sampled.
    assert run["sent"] == run["acknowledged"] == run["received"] == 400
    assert 150 <= run["send_rate"] <= 250
    assert run["ticks"] > 20
    assert 0 <= run["lag_p50_ms"] <= run["lag_p99_ms"] <= run["lag_max_ms"] < 30_000
    assert 0 < run["app_cpu_share"] < 4
    # The scroll-back: pages loaded above, then the window went back to its newest rows.
    assert run["messages_loaded"] >= 400
    assert run["rows_at_top"] >= run["rows_before"] + 400
    assert run["rows_after"] == KEEP_ROWS
    assert run["has_older_after"] is True
    assert 50 * 2**20 < run["rss_before"] <= run["rss_at_top"]
    assert 0.5 < run["rss_after_ratio"] < 2
    # The rows let go are freed: Python's live objects fall back from their peak.
    assert run["python_blocks_before"] < run["python_blocks_at_top"]
    assert run["python_blocks_after"] < run["python_blocks_at_top"]

    for figure in ("open_to_painted_ms", "lag_p99_ms", "lag_max_ms", "rss_after_ratio"):
        assert desktop[figure] == run[figure]
    assert set(desktop["met"]) == set(desktop["targets"]) == {"open_to_painted_ms", "lag_p99_ms", "rss_after_ratio"}
    for line in ("open a 2,000-message room", "event-loop lag at 200 messages/s", "scrolling back 400 messages"):
        assert line in stdout
