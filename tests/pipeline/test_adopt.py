"""``ufsn-data adopt``: denseflow-style (0-based) and TSN-style (1-based, x_/y_) trees made here from ufsn's own
extraction, adopted, and read back equal to it, file by file and in the shards built from them; bad trees."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.readers.rawframes import TreeError, check_image, contiguous, detect_conventions, list_folder
from pipeline.steps.adopt import AdoptConfig, run_adopt
from pipeline.steps.shards import ShardsConfig, run_shards
from pipeline.storage.manifest import read_manifest

UCF_CLIPS = ("v_ApplyEyeMakeup_g01_c01", "v_BaseballPitch_g01_c01", "v_Basketball_g01_c01")


def video_classes(base: Path) -> dict[str, str]:
    """Video id -> class folder, from ``videos/<Class>/<id>.avi``."""
    return {p.stem: p.parent.name for p in (base / "videos").glob("*/*.avi")}


def write_tree(base: Path, dest: Path, start: int, x: str, y: str, by_class: bool) -> Path:
    """A foreign rawframe tree holding copies of ``base``'s frames and flow under another numbering and names."""
    classes = video_classes(base)
    for frames in sorted((base / "frames").iterdir()):
        if not frames.is_dir():
            continue
        folder = dest / classes[frames.name] / frames.name if by_class else dest / frames.name
        folder.mkdir(parents=True)
        for path in frames.glob("img_*.jpg"):
            shutil.copyfile(path, folder / f"img_{int(path.stem[4:]) - 1 + start:05d}.jpg")
        for axis, name in (("x", x), ("y", y)):
            for path in (base / "tvl1" / frames.name).glob(f"flow_{axis}_*.jpg"):
                shutil.copyfile(path, folder / f"{name}_{int(path.stem[7:]) - 1 + start:05d}.jpg")
    return dest


def fresh_root(base: Path, root: Path, dataset: str) -> Path:
    """``root/dataset`` with ``base``'s videos and class list but no frames, flow, shards or splits."""
    (root / dataset).mkdir(parents=True)
    for name in ("videos", "classes.csv"):
        if (base / name).is_dir():
            shutil.copytree(base / name, root / dataset / name)
        elif (base / name).is_file():
            shutil.copy2(base / name, root / dataset / name)
    return root


def folder_bytes(folder: Path) -> dict[str, dict[str, bytes]]:
    """Video id -> file name -> bytes, for every file of every video folder."""
    return {v.name: {f.name: f.read_bytes() for f in v.iterdir()} for v in folder.iterdir() if v.is_dir()}


def shard_videos(shards: Path) -> dict[str, dict]:
    """Video id -> every dataset and attribute of its group, across a shards folder."""
    videos = {}
    for path in sorted(shards.glob("shard-*.h5")):
        with h5py.File(path, "r") as handle:
            for vid, group in handle["videos"].items():
                videos[vid] = {
                    **{k: group[k][()].tobytes() for k in group},
                    **{f"@{k}": group.attrs[k] for k in group.attrs},
                }
    return videos


@pytest.mark.parametrize(
    "start, x, y, by_class",
    [(0, "flow_x", "flow_y", True), (1, "x", "y", False)],
    ids=["denseflow-0-based-by-class", "tsn-1-based-x_y"],
)
def test_adopted_tree_reads_back_as_ufsn_extraction(tiny_prepared, tmp_path, start, x, y, by_class):
    base = tiny_prepared / "synthetic"
    tree = write_tree(base, tmp_path / "tree", start, x, y, by_class)
    root = fresh_root(base, tmp_path / "root", "synthetic")
    result = CliRunner().invoke(main, ["adopt", "--root", str(root), "--dataset", "synthetic", "--frames", str(tree),
                                       "--bound", "20", "--workers", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"from {start}" in result.output and f"{x}_<i>/{y}_<i>.jpg" in result.output
    adopted = root / "synthetic"
    assert folder_bytes(adopted / "frames") == folder_bytes(base / "frames")
    assert folder_bytes(adopted / "tvl1") == folder_bytes(base / "tvl1")
    rows = read_manifest(adopted / "manifest" / "adopt.csv")
    assert len(rows) == 100 and {r.status for r in rows.values()} == {"done"}
    record = json.loads((adopted / "tvl1" / "tvl1_config.json").read_text())
    assert record["adopted_from"] == str(tree.resolve()) and record["start_index"] == start
    assert record["bound"] == 20.0 and record["format"] == "jpg" and record["source_names"].startswith(f"{x}_<i>")
    # Hard links on one file system: the adopted file is the tree's file.
    vid = sorted(rows)[0]
    source = next(tree.rglob(f"{vid}/img_{start:05d}.jpg"))
    assert os.stat(source).st_ino == os.stat(adopted / "frames" / vid / "img_00001.jpg").st_ino
    # Shards from the adopted tree hold the same bytes and attributes, video by video.
    summary = run_shards(ShardsConfig(root=root, dataset="synthetic"), progress=False)
    assert summary.done == 100 and summary.failed == 0
    assert shard_videos(adopted / "shards") == shard_videos(base / "shards")
    # all skips extract and tvl1 for an adopted tree and builds splits.
    done = CliRunner().invoke(main, ["all", "--root", str(root), "--dataset", "synthetic"])
    assert done.exit_code == 0, done.output
    assert "extract: adopted from" in done.output and "tvl1: adopted from" in done.output
    assert (adopted / "splits" / "split1.csv").read_text() == (base / "splits" / "split1.csv").read_text()


def test_bad_videos_get_one_line_each_naming_the_file(tiny_prepared, tmp_path):
    base = tiny_prepared / "synthetic"
    tree = write_tree(base, tmp_path / "tree", 0, "flow_x", "flow_y", False)
    folders = sorted(p for p in tree.iterdir())
    gap, short, cut, unpaired, one_frame = folders[:5]
    (gap / "img_00003.jpg").unlink()
    last = max(int(p.stem[7:]) for p in short.glob("flow_x_*.jpg"))
    for axis in "xy":
        (short / f"flow_{axis}_{last:05d}.jpg").unlink()
    data = (cut / "flow_y_00002.jpg").read_bytes()
    (cut / "flow_y_00002.jpg").write_bytes(data[: len(data) // 2])
    (unpaired / f"flow_y_{last:05d}.jpg").unlink()
    for path in one_frame.iterdir():
        if path.name != "img_00000.jpg":
            path.unlink()
    root = fresh_root(base, tmp_path / "root", "synthetic")
    config = AdoptConfig(frames=tree, root=root, dataset="synthetic", bound=20.0)
    summary = run_adopt(config, progress=False).summary
    assert (summary.done, summary.failed) == (95, 5)
    rows = read_manifest(root / "synthetic" / "manifest" / "adopt.csv")
    errors = {vid: row.error for vid, row in rows.items() if row.status == "failed"}
    assert f"missing frame {gap / 'img_00003.jpg'}" in errors[gap.name]
    n = len(list(short.glob("img_*.jpg")))
    assert f"{short}: {n - 2} flow pairs for {n} frames, expected {n - 1} (frames - 1): 1 missing" in errors[short.name]
    assert f"{cut / 'flow_y_00002.jpg'}: JPEG cut short" in errors[cut.name]
    assert f"{unpaired}: {last + 1} flow_x images but {last} flow_y images" in errors[unpaired.name]
    assert f"{one_frame}: 1 frame, so no flow pair" in errors[one_frame.name]
    for vid in errors:  # a failed video leaves no folder behind
        assert not (root / "synthetic" / "frames" / vid).exists() and not (root / "synthetic" / "tvl1" / vid).exists()
    # Resume: fix one video in the tree; the rerun adopts it and leaves the 95 done ones alone.
    shutil.copyfile(base / "frames" / gap.name / "img_00004.jpg", gap / "img_00003.jpg")
    before = os.stat(root / "synthetic" / "frames" / folders[10].name).st_mtime_ns
    summary = run_adopt(config, progress=False).summary
    assert (summary.done, summary.failed) == (96, 4)
    assert os.stat(root / "synthetic" / "frames" / folders[10].name).st_mtime_ns == before


def test_copy_mode_copies_and_flow_only_tree_needs_frames(tiny_prepared, tmp_path):
    base = tiny_prepared / "synthetic"
    tree = write_tree(base, tmp_path / "tree", 1, "flow_x", "flow_y", False)
    root = fresh_root(base, tmp_path / "root", "synthetic")
    run_adopt(AdoptConfig(frames=tree, root=root, dataset="synthetic", bound=20.0, link="copy", check="markers"),
              progress=False)  # fmt: skip
    vid = sorted(p.name for p in tree.iterdir())[0]
    adopted = root / "synthetic" / "frames" / vid / "img_00001.jpg"
    assert os.stat(tree / vid / "img_00001.jpg").st_ino != os.stat(adopted).st_ino
    assert adopted.read_bytes() == (base / "frames" / vid / "img_00001.jpg").read_bytes()


def test_flow_without_bound_and_mixed_names_are_refused(tiny_prepared, tmp_path):
    base = tiny_prepared / "synthetic"
    tree = write_tree(base, tmp_path / "tree", 0, "flow_x", "flow_y", False)
    root = fresh_root(base, tmp_path / "root", "synthetic")
    result = CliRunner().invoke(main, ["adopt", "--root", str(root), "--dataset", "synthetic", "--frames", str(tree)])
    assert result.exit_code == 1 and "holds flow images: give --bound" in result.output
    victim = sorted(tree.iterdir())[-1]
    for path in victim.glob("flow_x_*.jpg"):
        path.rename(victim / path.name.replace("flow_x_", "x_"))
    with pytest.raises(TreeError, match="flow files named both flow_x_ .* and x_"):
        run_adopt(AdoptConfig(frames=tree, root=root, dataset="synthetic", bound=20.0, sample=1000), progress=False)


def test_frames_only_tree_then_tvl1_computes_flow(tiny_prepared, tmp_path):
    base = tiny_prepared / "synthetic"
    tree = write_tree(base, tmp_path / "tree", 0, "flow_x", "flow_y", False)
    for path in tree.rglob("flow_*.jpg"):
        path.unlink()
    root = fresh_root(base, tmp_path / "root", "synthetic")
    report = run_adopt(AdoptConfig(frames=tree, root=root, dataset="synthetic"), progress=False)
    assert report.flow_tree is None and report.summary.done == 100
    assert not (root / "synthetic" / "tvl1").exists()
    result = CliRunner().invoke(main, ["tvl1", "--root", str(root), "--dataset", "synthetic", "--workers", "2"])
    assert result.exit_code == 0, result.output
    vid = sorted(p.name for p in tree.iterdir())[0]
    assert folder_bytes(root / "synthetic" / "tvl1")[vid] == folder_bytes(base / "tvl1")[vid]
    # extract refuses to mix its frames into the adopted ones.
    again = CliRunner().invoke(main, ["extract", "--root", str(root), "--dataset", "synthetic"])
    assert again.exit_code == 1 and "was made with other settings" in again.output and "adopted_from" in again.output


def test_real_ucf101_clips_adopted_from_a_denseflow_tree(realdata, tmp_path):
    own = tmp_path / "own"
    for vid in UCF_CLIPS:
        cls = vid.split("_")[1]
        (own / "ucf101" / "videos" / cls).mkdir(parents=True)
        shutil.copy2(realdata / "ucf101_videos" / f"{vid}.avi", own / "ucf101" / "videos" / cls / f"{vid}.avi")
    runner = CliRunner()
    done = runner.invoke(main, ["all", "--root", str(own), "--dataset", "ucf101", "--size", "96x72", "--fps", "4",
                                "--workers", "2"])  # fmt: skip
    assert done.exit_code == 0, done.output
    tree = write_tree(own / "ucf101", tmp_path / "denseflow", 0, "flow_x", "flow_y", True)
    root = tmp_path / "root"  # no videos: only the tree, as a group that extracted long ago would have
    result = runner.invoke(main, ["adopt", "--root", str(root), "--dataset", "ucf101", "--frames", str(tree),
                                  "--bound", "20"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert folder_bytes(root / "ucf101" / "frames") == folder_bytes(own / "ucf101" / "frames")
    assert folder_bytes(root / "ucf101" / "tvl1") == folder_bytes(own / "ucf101" / "tvl1")
    run_shards(ShardsConfig(root=root, dataset="ucf101"), progress=False)
    ours, adopted = shard_videos(own / "ucf101" / "shards"), shard_videos(root / "ucf101" / "shards")
    assert sorted(adopted) == sorted(UCF_CLIPS)
    skip = {"@fps", "@source_size", "@source_mtime"}  # the adopted root has no videos to read them from
    for vid in UCF_CLIPS:
        assert {k: v for k, v in adopted[vid].items() if k not in skip} == {
            k: v for k, v in ours[vid].items() if k not in skip
        }


def test_contiguous_and_image_checks_against_hand_made_cases(tmp_path):
    files = {0: "img_00000.jpg", 1: "img_00001.jpg", 3: "img_00003.jpg"}
    with pytest.raises(TreeError, match=r"missing frame .*img_00002.jpg \(3 of 4 present\)"):
        contiguous(files, 0, tmp_path, "frame")
    with pytest.raises(TreeError, match="numbered below the tree's start index 1"):
        contiguous({0: "img_0.jpg", 1: "img_1.jpg"}, 1, tmp_path, "frame")
    assert contiguous({1: "x_001.jpg", 2: "x_002.jpg"}, 1, tmp_path, "x image") == ["x_001.jpg", "x_002.jpg"]
    import cv2

    ok, jpeg = cv2.imencode(".jpg", np.full((8, 8), 100, np.uint8))
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg.tobytes() + b"\x00\x00")  # zero padding after EOI is whole
    check_image(good, "jpg")
    (tmp_path / "png.jpg").write_bytes(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
    with pytest.raises(TreeError, match="not a JPEG"):
        check_image(tmp_path / "png.jpg", "jpg")
    check_image(tmp_path / "png.jpg", "png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(TreeError, match="empty file"):
        check_image(tmp_path / "empty.jpg", "jpg")
    listing = list_folder(tmp_path)
    assert sorted(listing.rgb) == [] and listing.flow == {}
    seen = detect_conventions([(tmp_path, list_folder(tmp_path))])
    assert seen.rgb_start == 1 and seen.flow_prefix is None
