"""ufsn-bench perf extract: the table runs end to end on tiny videos (no timing is asserted)."""

from __future__ import annotations

from click.testing import CliRunner
from extract_helpers import moving_frames, write_avi

from bench.cli import main


def test_cli_perf_extract_prints_ratios(tmp_path):
    for i in range(2):
        write_avi(tmp_path / "v" / "A" / f"v_{i}.avi", moving_frames(7, 96, 64, seed=i))
    args = [
        "perf",
        "extract",
        "--videos",
        str(tmp_path / "v"),
        "--size",
        "48x32",
        "--repeats",
        "1",
        "--copies",
        "1",
        "--tvl1-pairs",
        "4",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| extract | ffmpeg CLI" in result.output and "| 14 frames |" in result.output
    assert result.output.count("| 14 frames |") == 2  # ffmpeg writes as many frames as decode
    assert "| 4 pairs |" in result.output
    assert "extract / ffmpeg frames/s:" in result.output and "TV-L1 parallel efficiency on 2 workers:" in result.output
