"""ufsn-bench perf memory: the table's columns on very small inputs (no timing or size is asserted)."""

from __future__ import annotations

from click.testing import CliRunner

from bench.cli import main


def test_cli_perf_memory_prints_the_table(tmp_path):
    args = ["perf", "memory", "--work", str(tmp_path), "--small", "1", "--large", "2", "--frames", "3"]
    result = CliRunner().invoke(main, [*args, "--size", "32x32", "--workers", "1"])
    assert result.exit_code == 0, result.output
    header = "| step | largest, 1 videos | largest, 2 videos | ratio | tree, 1 videos | tree, 2 videos | ratio |"
    assert header in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ") and "MiB" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["extract", "tvl1", "shards"]
    assert all(len(row.split("|")) == 9 for row in rows)
    assert (tmp_path / "videos2" / "d" / "shards" / "index.csv").is_file()
