"""Shards: bit-exact round trip, resume, verify catching flipped bytes and truncation, index format."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from framedata import make_frame_folders

from pipeline.cli import main
from pipeline.readers.folder import FolderReader
from pipeline.readers.shard import INDEX_COLUMNS, ShardReader, read_index
from pipeline.steps.shards import ShardsConfig, run_shards
from pipeline.steps.verify import VerifyConfig, run_verify
from pipeline.storage.paths import DatasetPaths, flow_names, frame_name


@pytest.fixture(scope="module")
def packed(tiny_root, tmp_path_factory) -> DatasetPaths:
    """frames/ + tvl1/ for 12 videos, packed into several small shards (read-only for tests)."""
    paths = make_frame_folders(tiny_root, tmp_path_factory.mktemp("packed"))
    summary = run_shards(ShardsConfig(root=paths.root, dataset="synthetic", shard_size=40_000), progress=False)
    assert (summary.done, summary.failed) == (12, 0)
    return paths


def _copy(paths: DatasetPaths, tmp_path: Path) -> DatasetPaths:
    import shutil

    shutil.copytree(paths.base, tmp_path / "synthetic")
    return DatasetPaths(tmp_path, "synthetic")


def test_round_trip_is_bit_exact(packed):
    reader = ShardReader(packed.shards)
    assert len(reader.videos) == 12
    for vid, row in reader.videos.items():
        frames = reader.read_rgb(vid, 0, row.frames)
        assert frames == [(packed.frame_dir(vid) / frame_name(i + 1)).read_bytes() for i in range(row.frames)]
        pairs = reader.read_flow(vid, 0, row.flow_pairs)
        for i, (x, y) in enumerate(pairs):
            names = flow_names(i + 1)
            assert (x, y) == tuple((packed.flow_dir(vid) / n).read_bytes() for n in names)
    vid = next(iter(reader.videos))
    assert reader.read_rgb(vid, 3, 2) == FolderReader(packed.root, "synthetic").read_rgb(vid, 3, 2)
    with pytest.raises(IndexError):
        reader.read_rgb(vid, 7, 2)


def test_index_and_attributes(packed):
    text = (packed.shards / "index.csv").read_text()
    assert text.splitlines()[0] == ",".join(INDEX_COLUMNS) == "video_id,shard,label,class,frames,flow_pairs"
    rows = read_index(packed.shards / "index.csv")
    assert len({r.shard for r in rows}) > 1
    assert all((r.frames, r.flow_pairs) == (8, 7) for r in rows)
    row = next(r for r in rows if "TranslateDown" in r.video_id)
    with h5py.File(packed.shards / row.shard, "r") as handle:
        attrs = handle["videos"][row.video_id].attrs
        assert (attrs["label"], attrs["class"], attrs["width"], attrs["height"]) == (row.label, row.cls, 64, 64)
        assert attrs["fps"] == pytest.approx(25.0) and attrs["flow_bound"] == 20.0 and attrs["source_size"] > 0
        assert len(attrs["checksum"]) == 64 and handle.attrs["complete"]


def test_resume_keeps_finished_shards_and_gives_identical_output(packed, tmp_path):
    paths = _copy(packed, tmp_path)
    shards = sorted(paths.shards.glob("shard-*.h5"))
    kept = {p.name: p.stat().st_mtime_ns for p in shards[:2]}
    for p in shards[2:]:
        p.unlink()
    # a killed run leaves a temporary shard of a dead pid and no index
    (paths.shards / f".shard-00002.h5.tmp-{2**22 + 12345}-x").write_bytes(b"partial")
    (paths.shards / "index.csv").unlink()
    summary = run_shards(ShardsConfig(root=paths.root, dataset="synthetic", shard_size=40_000), progress=False)
    assert summary.done == 12
    assert {p.name: p.stat().st_mtime_ns for p in sorted(paths.shards.glob("shard-*.h5"))[:2]} == kept
    assert (paths.shards / "index.csv").read_text() == (packed.shards / "index.csv").read_text()
    assert sorted(p.name for p in paths.shards.iterdir()) == sorted(p.name for p in packed.shards.iterdir())


def test_verify_passes_on_good_shards(packed):
    report = run_verify(VerifyConfig(root=packed.root, dataset="synthetic"), progress=False)
    assert report.problems == () and report.videos == 12 and report.images == 12 * (8 + 14)


def _jpeg_byte_position(path: Path, video_id: str) -> int:
    with h5py.File(path, "r") as handle:
        dataset = handle["videos"][video_id]["rgb"]
        offsets = handle["videos"][video_id]["rgb_offsets"][()]
        # inside the entropy-coded data of frame 2, far from markers
        return dataset.id.get_offset() + int(offsets[1] + offsets[2]) // 2


def test_verify_catches_flipped_byte_and_truncation(packed, tmp_path):
    paths = _copy(packed, tmp_path)
    rows = read_index(paths.shards / "index.csv")
    victim = rows[0]
    position = _jpeg_byte_position(paths.shards / victim.shard, victim.video_id)
    with open(paths.shards / victim.shard, "r+b") as handle:
        handle.seek(position)
        byte = handle.read(1)
        handle.seek(position)
        handle.write(bytes([byte[0] ^ 0x01]))
    truncated = sorted({r.shard for r in rows})[-1]
    size = (paths.shards / truncated).stat().st_size
    os.truncate(paths.shards / truncated, size // 2)
    result = CliRunner().invoke(main, ["verify", "--root", str(paths.root), "--dataset", "synthetic"])
    assert result.exit_code == 1
    assert f"bad: {victim.shard} {victim.video_id}: checksum mismatch" in result.output
    for row in rows:
        if row.shard == truncated:
            assert f"bad: {truncated} {row.video_id}: shard unreadable" in result.output
    others = [r for r in rows if r.shard not in (truncated, victim.shard)]
    assert all(r.video_id not in result.output for r in others)


def test_missing_flow_is_a_failed_row(packed, tmp_path):
    paths = _copy(packed, tmp_path)
    vid = sorted(p.name for p in paths.frames.iterdir())[0]
    (paths.flow_dir(vid) / flow_names(3)[1]).unlink()
    result = CliRunner().invoke(
        main, ["shards", "--root", str(paths.root), "--dataset", "synthetic", "--force", "--shard-size", "1MiB"]
    )
    assert result.exit_code == 1 and "11 done, 1 failed" in result.output
    manifest = (paths.manifest / "shards.csv").read_text()
    assert f"{vid},failed" in manifest and "flow_y_00003.jpg: missing" in manifest
    assert len(read_index(paths.shards / "index.csv")) == 11
    assert [p.name for p in paths.shards.glob("shard-*.h5")] == ["shard-00000.h5"]


def test_index_path_escape_is_refused(tmp_path):
    (tmp_path / "index.csv").write_text(",".join(INDEX_COLUMNS) + "\nv_a,../../x.h5,0,A,8,7\n")
    with pytest.raises(ValueError, match=r"index.csv:2: .*escapes"):
        read_index(tmp_path / "index.csv")


def test_reader_reopens_after_fork(packed):
    reader = ShardReader(packed.shards)
    vid = next(iter(reader.videos))
    first = reader.read_rgb(vid, 0, 1)
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's handle
        ok = reader.read_rgb(vid, 0, 1) == first and reader._pid == os.getpid()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert np.array_equal(np.frombuffer(first[0], np.uint8)[:2], [0xFF, 0xD8])
