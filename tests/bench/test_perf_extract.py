"""ufsn-bench perf extract: the table runs end to end on tiny videos (no timing is asserted)."""

from __future__ import annotations

import re

from click.testing import CliRunner
from extract_helpers import moving_frames, write_avi

from bench.cli import main


def _torchcodec_loads() -> bool:
    from pipeline.readers.decoders import load_torchcodec

    try:
        load_torchcodec()
    except RuntimeError as exc:
        assert "FFmpeg's shared libraries" in str(exc), exc  # only a missing FFmpeg may leave torchcodec out
        return False
    return True


def _row(output: str, method: str) -> tuple[int, float]:
    """(items, items/s) of the table row whose method starts with ``method``."""
    match = re.search(rf"^\| \w+ \| {re.escape(method)}[^|]* \| \d+ x 1 \| (\d+) frames \| [\d.]+ \| ([\d.]+) \|$",
                      output, re.MULTILINE)  # fmt: skip
    assert match, f"no row {method!r} in\n{output}"
    return int(match.group(1)), float(match.group(2))


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
    assert _row(result.output, "ffmpeg CLI")[0] == _row(result.output, "ufsn-data extract (decord")[0] == 14
    assert _row(result.output, "decord (FrameStream")[0] == 14  # ffmpeg writes as many frames as decode
    assert "| 4 pairs |" in result.output
    assert "extract / ffmpeg frames/s:" in result.output and "TV-L1 parallel efficiency on 2 workers:" in result.output
    if _torchcodec_loads():
        for method in ("ufsn-data extract --decoder torchcodec", "torchcodec (FrameStream"):
            frames, rate = _row(result.output, method)
            assert frames == 14 and rate > 0, method
        ratios = re.search(r"torchcodec / decord frames/s: extract ([\d.]+)x, decode only ([\d.]+)x", result.output)
        assert ratios and float(ratios.group(1)) > 0 and float(ratios.group(2)) > 0, result.output
    else:
        assert "torchcodec: not measured (--decoder torchcodec needs FFmpeg's shared libraries" in result.output


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
    assert result.output.count("| 5 frames |") == (5 if _torchcodec_loads() else 3)  # extract x2, ffmpeg, decode x2
