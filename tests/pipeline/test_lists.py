"""``ufsn-data lists`` read back with mmaction2's rules: every count and label against the files and splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.steps.lists import FLOW_TEMPLATE, RGB_TEMPLATE, START_INDEX, ListsConfig
from pipeline.steps.splits import read_split

UCF_CLIPS = {"ApplyEyeMakeup": "v_ApplyEyeMakeup_g01_c01", "BaseballPitch": "v_BaseballPitch_g01_c01",
             "Basketball": "v_Basketball_g01_c01"}  # fmt: skip


def parse_rawframe_list(path: Path) -> list[tuple[str, int, int]]:
    """mmaction2's RawframeDataset reading of a list: whitespace-split, frame_dir, total_frames, label(s)."""
    entries = []
    for line in path.read_text().splitlines():
        parts = line.strip().split()
        frame_dir, total_frames, labels = parts[0], int(parts[1]), [int(x) for x in parts[2:]]
        assert len(labels) == 1, f"{path}: single-label lines expected, got {line!r}"
        entries.append((frame_dir, total_frames, labels[0]))
    return entries


def frames_mmaction_reads(prefix: Path, frame_dir: str, total: int, modality: str) -> list[Path]:
    """The files mmaction2's RawFrameDecode opens for indices start_index .. start_index + total - 1."""
    folder = prefix / frame_dir
    if modality == "rgb":
        return [folder / RGB_TEMPLATE.format(i) for i in range(START_INDEX, START_INDEX + total)]
    return [folder / FLOW_TEMPLATE.format(axis, i) for i in range(START_INDEX, START_INDEX + total) for axis in "xy"]


def check_lists(base: Path, out: Path, dataset: str) -> int:
    """Every list of every split against splits/split<k>.csv and the folders on disk; returns lines checked."""
    checked = 0
    for split_csv in sorted((base / "splits").glob("split*.csv")):
        k = int(split_csv.stem.removeprefix("split"))
        rows = read_split(split_csv)
        expected = {"train": {r.video_id: r.label for r in rows if r.subset in ("train", "val")},
                    "val": {r.video_id: r.label for r in rows if r.subset == "test"}}  # fmt: skip
        for subset, want in expected.items():
            for modality, prefix, pattern in (("rgb", base / "frames", "img_*.jpg"),
                                              ("flow", base / "tvl1", "flow_x_*.jpg")):  # fmt: skip
                suffix = "_flow" if modality == "flow" else ""
                entries = parse_rawframe_list(out / f"{dataset}_{subset}_split_{k}_rawframes{suffix}.txt")
                assert {d: label for d, _, label in entries} == want
                for frame_dir, total, _ in entries:
                    assert total == len(list((prefix / frame_dir).glob(pattern)))  # the count on disk
                    frames = len(list((base / "frames" / frame_dir).glob("img_*.jpg")))
                    assert total == (frames if modality == "rgb" else frames - 1)
                    assert all(p.is_file() for p in frames_mmaction_reads(prefix, frame_dir, total, modality))
                    assert not frames_mmaction_reads(prefix, frame_dir, total + 1, modality)[-1].exists()
                    checked += 1
    return checked


def test_lists_on_the_tiny_preset(tiny_prepared, tmp_path):
    out = tmp_path / "lists"
    result = CliRunner().invoke(main, ["lists", "--root", str(tiny_prepared), "--dataset", "synthetic",
                                       "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.txt"))) == 3 * 2 * 2  # splits x (train, val) x (rgb, flow)
    assert check_lists(tiny_prepared / "synthetic", out, "synthetic") == 3 * 2 * 100  # every video twice a split


def test_lists_on_real_ucf101_clips(realdata, tmp_path):
    root = tmp_path / "root"
    for cls, vid in UCF_CLIPS.items():
        folder = root / "ucf101" / "videos" / cls
        folder.mkdir(parents=True)
        shutil.copy(realdata / "ucf101_videos" / f"{vid}.avi", folder / f"{vid}.avi")  # g01: test in split 1
        shutil.copy(realdata / "ucf101_videos" / f"{vid}.avi", folder / f"{vid.replace('_g01_', '_g08_')}.avi")
    runner = CliRunner()
    small = ["--workers", "2", "--size", "96x72", "--fps", "4"]
    done = runner.invoke(main, ["all", "--root", str(root), "--dataset", "ucf101", *small])
    assert done.exit_code == 0, done.output
    result = runner.invoke(main, ["lists", "--root", str(root), "--dataset", "ucf101"])
    assert result.exit_code == 0, result.output
    out = root / "ucf101" / "mmaction2"
    assert check_lists(root / "ucf101", out, "ucf101") == 3 * 6 * 2
    first = parse_rawframe_list(out / "ucf101_val_split_1_rawframes.txt")
    assert [label for _, _, label in first] == [0, 6, 7]  # classInd ids 1, 7, 8, 0-based


def test_a_video_without_flow_is_left_out_with_its_folder_named(tiny_prepared, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs", "shards"))
    victim = sorted((root / "synthetic" / "tvl1").glob("v_*"))[0]
    shutil.rmtree(victim)
    result = CliRunner().invoke(main, ["lists", "--root", str(root), "--dataset", "synthetic"])
    assert result.exit_code == 0, result.output
    assert f"skipped: {victim}: no flow_x_*.jpg" in result.output
    flow = (root / "synthetic" / "mmaction2" / "synthetic_train_split_1_rawframes_flow.txt").read_text()
    rgb = (root / "synthetic" / "mmaction2" / "synthetic_train_split_1_rawframes.txt").read_text()
    assert victim.name not in flow and (
        victim.name in rgb
        or victim.name in (root / "synthetic" / "mmaction2" / "synthetic_val_split_1_rawframes.txt").read_text()
    )


def test_without_split_files_it_says_what_to_run(tmp_path):
    (tmp_path / "synthetic").mkdir()
    result = CliRunner().invoke(main, ["lists", "--root", str(tmp_path), "--dataset", "synthetic"])
    assert result.exit_code != 0 and "run `ufsn-data splits` first" in result.output


def test_bad_modality_is_refused():
    with pytest.raises(ValueError, match="modalities"):
        ListsConfig(modalities=("depth",))  # type: ignore[arg-type]
