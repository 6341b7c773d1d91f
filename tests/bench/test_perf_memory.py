"""ufsn-bench perf memory: the table's columns on very small inputs (no timing or size is asserted)."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from bench.cli import main
from bench.perf.memory import clip_lengths, ucf_video_name


def test_cli_perf_memory_prints_the_table(tmp_path):
    args = ["perf", "memory", "--work", str(tmp_path), "--small", "2", "--large", "3", "--frames", "3"]
    result = CliRunner().invoke(main, [*args, "--max-frames", "5", "--train-steps", "2", "--size", "64x64",
                                       "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    header = "| step | largest, 2 videos | largest, 3 videos | ratio | tree, 2 videos | tree, 3 videos | ratio |"
    assert header in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ") and "MiB" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["extract", "tvl1", "shards", "stage 1", "stream training"]
    assert all(len(row.split("|")) == 9 for row in rows)
    base = tmp_path / "videos3" / "ucf101"
    assert (base / "shards" / "index.csv").is_file() and (base / "splits" / "split1.csv").is_file()
    frames = sorted(len(list(d.glob("*.jpg"))) for d in (base / "frames").glob("v_*"))
    assert frames == [3, 4, 5] and clip_lengths(3, 5) == [3, 4, 5] and clip_lengths(8, 32) == [8, 16, 24, 32]
    with (base / "runs" / "flow-full-split1" / "train_log.csv").open() as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["1", "2"]  # stage 1 ran --train-steps steps
    assert (base / "runs" / "rgb-split1" / "record.json").is_file()


def test_ucf_names_put_videos_in_every_subset_of_every_split():
    names = [ucf_video_name(i) for i in range(100)]
    assert len({vid for _, vid in names}) == 100
    groups = [int(vid.split("_g")[1][:2]) for _, vid in names[:10]]
    assert any(g <= 7 for g in groups) and any(g >= 24 for g in groups)  # split 1's test and val groups
