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


def test_cli_perf_extract_default_videos_are_in_the_data_root(tmp_path):
    # Without --videos: ROOT/DATASET/videos, as for `ufsn-data extract`; never a folder outside the repository.
    base = ["perf", "extract", "--root", str(tmp_path), "--size", "48x32", "--repeats", "1", "--copies", "1",
            "--tvl1-pairs", "2"]  # fmt: skip
    missing = CliRunner().invoke(main, [*base, "--dataset", "d"])
    assert missing.exit_code == 1 and isinstance(missing.exception, SystemExit), missing.output
    text = missing.output.strip()
    assert text.startswith("Error: ") and "\n" not in text and str(tmp_path / "d" / "videos") in text, text
    assert "--videos" in text and "shared" not in text
    write_avi(tmp_path / "d" / "videos" / "A" / "v_0.avi", moving_frames(5, 96, 64))
    result = CliRunner().invoke(main, [*base, "--dataset", "d"])
    assert result.exit_code == 0, result.output
    assert result.output.count("| 5 frames |") == 2
