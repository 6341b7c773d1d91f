"""``ufsn-bench perf loader`` runs and prints both sources, ratios, bytes and file counts."""

from __future__ import annotations

from click.testing import CliRunner
from framedata import make_frame_folders

from bench.cli import main
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
    # 8 videos x (8 frames + 2 x 7 flow JPEGs) files vs one shard + index
    assert "| files | 176 | 2 |" in result.output
    assert out.read_text().strip() == result.output.strip()
