"""Splits: the group rule reproduces the official UCF-101 lists; HMDB-51 counts; every error path."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import splits as split_defs
from pipeline.catalog import Definition, VideoEntry, load_definition
from pipeline.cli import main
from pipeline.official_lists import read_class_ind, read_hmdb_split, read_lines, read_ucf_list
from pipeline.steps.splits import SplitsConfig, group_subsets, read_split, rule_split, run_splits
from pipeline.storage.paths import DatasetPaths

UCF_COUNTS = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


def _definition(dataset: str) -> Definition:
    return load_definition(DatasetPaths(Path("/nonexistent"), dataset))


def _empty_videos(root: Path, realdata: Path) -> None:
    """A data root of empty files named as in the official lists (what the rule needs: names)."""
    for _, text in read_lines(realdata / "ucf101_splits" / "trainlist01.txt") + read_lines(
        realdata / "ucf101_splits" / "testlist01.txt"
    ):
        path = root / "ucf101" / "videos" / text.split()[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    for listing in (realdata / "hmdb51_splits").glob("*_test_split1.txt"):
        cls = listing.name[: -len("_test_split1.txt")]
        for _, text in read_lines(listing):
            path = root / "hmdb51" / "videos" / cls / text.split()[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()


@pytest.fixture(scope="module")
def empty_root(tmp_path_factory, realdata) -> Path:
    root = tmp_path_factory.mktemp("empty")
    _empty_videos(root, realdata)
    return root


def test_test_groups_follow_7k_rule():
    for dataset in ("ucf101", "synthetic"):
        raw = split_defs.load_definition(dataset)
        assert [tuple(r) for r in raw["test_groups"]] == [(7 * k - 6, 7 * k) for k in (1, 2, 3)]


def test_val_is_last_two_train_groups():
    subsets = group_subsets(_definition("ucf101"), 3, val_groups=2)
    assert [g for g, s in subsets.items() if s == "val"] == [24, 25]
    assert [g for g, s in subsets.items() if s == "test"] == list(range(15, 22))
    assert [g for g, s in group_subsets(_definition("ucf101"), 1, 2).items() if s == "val"] == [24, 25]


def test_class_order_is_classind(realdata):
    names = read_class_ind(realdata / "ucf101_splits" / "classInd.txt")
    definition = _definition("ucf101")
    assert list(definition.classes) == names
    assert names != sorted(names)  # Hammering/HammerThrow, JumpingJack/JumpRope
    assert definition.label("HandstandPushups") == 36


@pytest.mark.parametrize("split", [1, 2, 3])
def test_group_rule_reproduces_official_ucf101_from_names_alone(realdata, split):
    definition = _definition("ucf101")
    folder = realdata / "ucf101_splits"
    classes = list(definition.classes)
    train = read_ucf_list(folder / f"trainlist{split:02d}.txt", classes, Path("/v"), train=True)
    test = read_ucf_list(folder / f"testlist{split:02d}.txt", classes, Path("/v"), train=False)
    assert (len(train), len(test)) == UCF_COUNTS[split]
    # names only: no class folder, so the class comes from v_<Class>_gGG_cCC (HandStandPushups alias)
    entries = {e.video_id: VideoEntry(e.video_id, None, None) for e in train + test}
    rows = {r.video_id: r for r in rule_split(definition, split, entries, val_groups=2)}
    labels = {}
    for _, text in read_lines(folder / f"trainlist{split:02d}.txt"):
        labels[Path(text.split()[0]).stem] = int(text.split()[1]) - 1
    assert {v for v, r in rows.items() if r.subset != "test"} == {e.video_id for e in train}
    assert {v for v, r in rows.items() if r.subset == "test"} == {e.video_id for e in test}
    assert all(rows[v].label == label for v, label in labels.items())
    assert all(rows[e.video_id].cls == e.cls for e in train + test)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_counts(realdata, split):
    definition = _definition("hmdb51")
    listed = read_hmdb_split(realdata / "hmdb51_splits", split, list(definition.classes), Path("/v"))
    codes = [e.code for e in listed]
    assert (codes.count(1), codes.count(2), codes.count(0)) == (3570, 1530, 1666)


def test_official_agreement_on_empty_files(empty_root, realdata):
    runner = CliRunner()
    for dataset, folder in (("ucf101", "ucf101_splits"), ("hmdb51", "hmdb51_splits")):
        args = ["splits", "--root", str(empty_root), "--dataset", dataset, "--official", str(realdata / folder)]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "full agreement" in result.output
    ucf = read_split(empty_root / "ucf101" / "splits" / "split2.csv")
    assert sum(r.subset != "test" for r in ucf) == 9586
    hmdb = read_split(empty_root / "hmdb51" / "splits" / "split1.csv")
    assert sum(r.subset != "test" for r in hmdb) == 3570 and sum(r.subset == "test" for r in hmdb) == 1530
    val = [r for r in hmdb if r.subset == "val"]
    assert len(val) == 51 * 7 and all(sum(r.label == c for r in val) == 7 for c in range(51))
    assert hmdb[0].cls == "brush_hair" and hmdb[0].label == 0


def _copy_lists(realdata: Path, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(realdata / name, folder)
    return folder


def test_missing_listed_video_fails_unless_allowed(empty_root, realdata, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(empty_root / "hmdb51" / "videos", root / "hmdb51" / "videos")
    (root / "hmdb51" / "videos" / "brush_hair" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi").unlink()
    config = SplitsConfig(root=root, dataset="hmdb51", official=realdata / "hmdb51_splits")
    report = run_splits(config)
    assert report.failed and not report.written
    assert any("brush_hair_test_split1.txt:1: April_09_brush_hair_u_nm_np1_ba_goo_0" in m for m in report.missing)
    allowed = run_splits(replace(config, allow_missing=True))
    assert not allowed.failed and allowed.counts[1]["train"] + allowed.counts[1]["val"] == 3569


def test_difference_is_reported(empty_root, realdata, tmp_path):
    folder = _copy_lists(realdata, tmp_path, "ucf101_splits")
    text = (folder / "testlist01.txt").read_bytes().replace(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n", b"")
    (folder / "testlist01.txt").write_bytes(text)
    result = CliRunner().invoke(
        main, ["splits", "--root", str(empty_root), "--dataset", "ucf101", "--official", str(folder)]
    )
    assert result.exit_code == 1
    assert "v_ApplyEyeMakeup_g01_c01: present but in no official list" in result.output


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi\r\n", "trainlist01.txt:2: expected"),
        (b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2\r\n", "trainlist01.txt:2: label 2 is 'ApplyLipstick'"),
        (b"../../../etc/v_ApplyEyeMakeup_g08_c01.avi 1\r\n", "trainlist01.txt:2: path escapes"),
        (b"/etc/v_ApplyEyeMakeup_g08_c01.avi 1\r\n", "trainlist01.txt:2: absolute path"),
        (b"Nope/v_Nope_g08_c01.avi 1\r\n", "trainlist01.txt:2: unknown class 'Nope'"),
    ],
)
def test_malformed_ucf_line_names_file_and_line(realdata, tmp_path, line, message):
    folder = _copy_lists(realdata, tmp_path, "ucf101_splits")
    lines = (folder / "trainlist01.txt").read_bytes().splitlines(keepends=True)
    (folder / "trainlist01.txt").write_bytes(lines[0] + line + b"".join(lines[2:]))
    with pytest.raises(ValueError, match=message):
        read_ucf_list(folder / "trainlist01.txt", list(_definition("ucf101").classes), tmp_path, train=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [(b"x.avi 3 \n", "cartwheel_test_split2.txt:1: expected"), (b"../x.avi 1 \n", "path escapes")],
)
def test_malformed_hmdb_line(realdata, tmp_path, line, message):
    folder = _copy_lists(realdata, tmp_path, "hmdb51_splits")
    (folder / "cartwheel_test_split2.txt").write_bytes(b"\xef\xbb\xbf" + line)
    with pytest.raises(ValueError, match=message):
        read_hmdb_split(folder, 2, list(_definition("hmdb51").classes), tmp_path)


def test_bom_crlf_and_trailing_spaces_tolerated(tmp_path):
    path = tmp_path / "classInd.txt"
    path.write_bytes(b"\xef\xbb\xbf1 A  \r\n\r\n2 B\r\n")
    assert read_class_ind(path) == ["A", "B"]


def test_synthetic_from_frames_folder(tiny_root, tmp_path):
    root = tmp_path / "root"
    (root / "synthetic").mkdir(parents=True)
    shutil.copy(tiny_root / "synthetic" / "classes.csv", root / "synthetic")
    for video in (tiny_root / "synthetic" / "videos").glob("*/*.avi"):
        (root / "synthetic" / "frames" / video.stem).mkdir(parents=True)
    report = run_splits(SplitsConfig(root=root, dataset="synthetic", val_groups=3))
    assert report.source == "frames" and not report.failed
    assert report.counts[1] == {"train": 4 * 15, "val": 4 * 3, "test": 4 * 7}
    rows = read_split(root / "synthetic" / "splits" / "split1.csv")
    assert {r.video_id: r.subset for r in rows}[rows[0].video_id] == "test"  # g01 is tested in split 1


def test_hmdb51_needs_official(empty_root):
    result = CliRunner().invoke(main, ["splits", "--root", str(empty_root), "--dataset", "hmdb51"])
    assert result.exit_code == 1 and "--official" in result.output
