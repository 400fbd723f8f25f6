"""The benchmark harness itself runs and checks what it claims (a tiny run, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_a_tiny_benchmark_run_reports_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gochat.bench",
            "--sizes",
            "5",
            "--messages",
            "5",
            "--runs",
            "1",
            "--ingest-seconds",
            "1",
            "--skip",
            "mariadb",
            "--json",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(output.read_text())
    [row] = report["fanout"]
    for side in ("gochat", "reference"):
        assert row[side]["deliveries_per_second"] > 0
        assert (row[side]["lost"], row[side]["duplicated"], row[side]["reordered"]) == (0, 0, 0)
    assert row["ratio"] > 0
    [sqlite] = report["ingest"]
    assert sqlite["backend"] == "sqlite"
    assert sqlite["acknowledged_per_second"] > 0
    assert "fan-out N=    5" in result.stdout
