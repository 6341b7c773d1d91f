"""``ufsn-bench perf loader`` runs and prints both sources, ratios, bytes and file counts."""

from __future__ import annotations

import itertools
import re

import pytest
from click.testing import CliRunner
from framedata import make_frame_folders

from bench.cli import main
from bench.perf.loader import ColdRead, IOCounters, LoaderBenchConfig, format_table, run_loader_bench
from pipeline.steps.shards import ShardsConfig, run_shards


def test_perf_loader_cli(tiny_root, tmp_path):
    paths = make_frame_folders(tiny_root, tmp_path, groups=(1, 8))
    run_shards(ShardsConfig(root=paths.root, dataset="synthetic"), progress=False)
    out = tmp_path / "loader.md"
    args = [
        "perf",
        "loader",
        "--root",
        str(tmp_path),
        "--dataset",
        "synthetic",
        "--size",
        "32",
        "--workers",
        "0",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for row in ("rgb clips/s warm", "rgb clips/s cold", "flow clips/s warm", "flow clips/s cold"):
        assert f"| {row} |" in result.output
    # Whether this machine's cache could be dropped is its own affair; the row says which, with the bytes.
    cold = r"\d+\.\d\dx \(read from disk: frames [\d,]+ B, shards [\d,]+ B\)"
    dropped = r"cache could not be dropped \(read from disk: frames [\d,]+ of [\d,]+ B, shards [\d,]+ of [\d,]+ B\)"
    for line in result.output.splitlines():
        if "clips/s cold" in line:
            assert re.fullmatch(rf"\| \w+ clips/s cold \| [\d.]+ \| [\d.]+ \| (?:{cold}|{dropped}) \|", line), line
    # 8 videos x (8 frames + 2 x 7 flow JPEGs) files vs one shard + index
    assert "| files | 176 | 2 |" in result.output
    assert out.read_text().strip() == result.output.strip()


def _counters(device_share: float):
    """A fake ``/proc/self/io``: every call adds 10,000 bytes read, ``device_share`` of them fetched from the device."""
    calls = itertools.count(1)

    def read() -> IOCounters:
        n = next(calls)
        return IOCounters(device=round(device_share * 10_000 * n), requested=10_000 * n)

    return read


@pytest.mark.parametrize(
    ("device_share", "cold"),
    [(1.0, True), (0.2, True), (0.0, False), (0.05, False)],  # 0.05: clearly less than the pass read
)
def test_cold_row_gives_the_ratio_only_when_the_device_was_read(tiny_root, tmp_path, device_share, cold):
    paths = make_frame_folders(tiny_root, tmp_path, groups=(1,))
    run_shards(ShardsConfig(root=paths.root, dataset="synthetic"), progress=False)
    config = LoaderBenchConfig(root=tmp_path, dataset="synthetic", modalities=("rgb",), workers=0, size=32)
    results, disk = run_loader_bench(config, io_counters=_counters(device_share))
    device = round(device_share * 10_000)
    assert [m.cold_read for m in results] == [ColdRead(device, 10_000)] * 2  # one cold pass per source
    assert [m.cold_read.cold for m in results] == [cold, cold]
    row = next(line for line in format_table(config, results, disk).splitlines() if "rgb clips/s cold" in line)
    ratio = row.split("|")[4].strip()
    if cold:
        frames, shards = results
        assert ratio == f"{shards.cold / frames.cold:.2f}x (read from disk: frames {device:,} B, shards {device:,} B)"
    else:
        assert ratio == (f"cache could not be dropped (read from disk: frames {device:,} of 10,000 B, "
                         f"shards {device:,} of 10,000 B)")  # fmt: skip
