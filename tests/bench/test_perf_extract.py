"""ufsn-bench perf extract: the table runs end to end on tiny videos (no timing is asserted)."""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest
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


class Row(NamedTuple):
    method: str
    processes: int
    items: int
    seconds: float
    rate: float  # items/s


ROW = re.compile(r"^\| \w+ \| ([^|]+) \| (\d+) x 1 \| (\d+) (?:frames|pairs) \| ([\d.]+) \| ([\d.]+) \|$", re.MULTILINE)


def _rows(output: str, method: str) -> list[Row]:
    """The table rows whose method starts with ``method``, each checked: its rate is items / seconds."""
    rows = [Row(m[1], int(m[2]), int(m[3]), float(m[4]), float(m[5])) for m in ROW.finditer(output)]
    rows = [row for row in rows if row.method.startswith(method)]
    assert rows, f"no row {method!r} in\n{output}"
    for row in rows:  # seconds are printed to 0.005, rates to 0.05: the rounding bounds rate x seconds - items
        assert abs(row.rate * row.seconds - row.items) <= 0.005 * row.rate + 0.05 * row.items / row.rate + 1e-6, row
    return rows


def _row(output: str, method: str) -> Row:
    (row,) = _rows(output, method)
    return row


def _ratio(output: str, pattern: str) -> float:
    match = re.search(pattern, output)
    assert match, f"no {pattern!r} in\n{output}"
    return float(match.group(1))


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
    extract, ffmpeg = _row(result.output, "ufsn-data extract (decord"), _row(result.output, "ffmpeg CLI")
    decode = _row(result.output, "decord (FrameStream")
    assert ffmpeg.items == extract.items == decode.items == 14  # ffmpeg writes as many frames as decode
    # Each ratio is the one its line names: recomputed here from the printed rows (rates to 0.05, ratios to 0.005).
    extract_ratio = _ratio(result.output, r"extract / ffmpeg frames/s: ([\d.]+)x")
    assert extract_ratio == pytest.approx(extract.rate / ffmpeg.rate, rel=0.02, abs=0.006)
    one, two = _rows(result.output, "OpenCV Dual TV-L1")
    assert (one.processes, two.processes) == (1, 2) and one.items == two.items == 4
    efficiency = _ratio(result.output, r"TV-L1 parallel efficiency on 2 workers: ([\d.]+)")
    assert efficiency == pytest.approx(two.rate / (2 * one.rate), rel=0.02, abs=0.006)
    if _torchcodec_loads():
        extract_tc = _row(result.output, "ufsn-data extract --decoder torchcodec")
        decode_tc = _row(result.output, "torchcodec (FrameStream")
        assert extract_tc.items == decode_tc.items == 14
        ratios = re.search(r"torchcodec / decord frames/s: extract ([\d.]+)x, decode only ([\d.]+)x", result.output)
        assert ratios, result.output
        assert float(ratios.group(1)) == pytest.approx(extract_tc.rate / extract.rate, rel=0.02)  # 3 significant digits
        assert float(ratios.group(2)) == pytest.approx(decode_tc.rate / decode.rate, rel=0.02)
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
