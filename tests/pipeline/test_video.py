"""pipeline/readers/video.py: true decoded counts (decord traps), resize and fps rules, video discovery."""

from __future__ import annotations

import numpy as np
import pytest
from extract_helpers import moving_frames, write_avi

from pipeline.readers.video import FrameStream, VideoError, check_complete, find_videos, fps_repeats, output_size

HMDB_TRUE = {"April_09_brush_hair_u_nm_np1_ba_goo_0": 408}  # README: decord returns 409


def test_output_size_rules():
    assert output_size(320, 240, (340, 256), None) == (340, 256)
    assert output_size(320, 240, None, 256) == (341, 256)  # 320 * 256 / 240 = 341.33
    assert output_size(240, 320, None, 128) == (128, 171)  # 320 * 128 / 240 = 170.67
    assert output_size(320, 240, None, None) == (320, 240)
    with pytest.raises(ValueError):
        output_size(320, 240, (340, 256), 256)


def test_fps_repeats_hand_worked():
    # 30 -> 15 fps keeps frames 0, 2, 4, ...; 10 -> 25 fps repeats frames 2 or 3 times (2.5 on average).
    assert [fps_repeats(i, 30.0, 15.0) for i in range(6)] == [1, 0, 1, 0, 1, 0]
    assert [fps_repeats(i, 10.0, 25.0) for i in range(4)] == [3, 2, 3, 2]
    assert sum(fps_repeats(i, 30000 / 1001, 25.0) for i in range(30000)) == pytest.approx(
        30000 * 25 * 1001 / 30000, abs=1
    )
    assert fps_repeats(5, 25.0, None) == 1


def test_stream_matches_opencv_decode(tmp_path):
    import cv2

    frames = moving_frames(12)
    video = write_avi(tmp_path / "A" / "v_a.avi", frames)
    stream = FrameStream(video)
    got = np.stack(list(stream))
    cap = cv2.VideoCapture(str(video))
    reference = []
    while (item := cap.read())[0]:
        reference.append(item[1][..., ::-1])
    assert stream.report.decoded == len(reference) == 12
    assert stream.report.header == 12 and stream.report.decoder == "decord"
    # Two decoders of the same MJPG stream: equal up to IDCT rounding.
    assert np.abs(got.astype(int) - np.stack(reference)).max() <= 3


def test_genuine_repeated_last_frame_is_kept(tmp_path):
    frames = moving_frames(6)
    frames[-1] = frames[-2]
    stream = FrameStream(write_avi(tmp_path / "A" / "v_rep.avi", frames))
    assert len(list(stream)) == 6 and stream.report.note == ""


def test_real_hmdb_over_report_is_dropped(realdata):
    video = realdata / "hmdb51_videos" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
    stream = FrameStream(video)
    assert sum(1 for _ in stream) == 408
    assert stream.report.header == 409 and "dropped surplus" in stream.report.note
    check_complete(stream.report, video, allow_truncated=False)  # one frame short of the header is fine


def test_truncated_real_clip_is_detected(realdata, tmp_path):
    source = realdata / "ucf101_videos" / "v_Basketball_g01_c01.avi"
    data = source.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    stream = FrameStream(cut)
    count = sum(1 for _ in stream)
    assert count == stream.report.decoded < 141 - 1 and stream.report.header == 141
    with pytest.raises(VideoError, match=rf"truncated: header 141, decoded {count}"):
        check_complete(stream.report, cut, allow_truncated=False)
    check_complete(stream.report, cut, allow_truncated=True)


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 8])
def test_unreadable_inputs_raise_with_path(tmp_path, content):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(content)
    with pytest.raises(VideoError, match="bad.avi"):
        list(FrameStream(bad))


def test_find_videos_rejects_duplicate_ids(tmp_path):
    for cls in ("A", "B"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "v_same.avi").write_bytes(b"x")
    (tmp_path / "A" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="v_same"):
        find_videos(tmp_path)
    (tmp_path / "B" / "v_same.avi").rename(tmp_path / "B" / "v_other.mp4")
    assert [p.name for p in find_videos(tmp_path)] == ["v_same.avi", "v_other.mp4"]


def test_one_list_of_video_extensions(tmp_path):
    # What the splits step lists as a dataset's videos is what extract finds: one list of extensions.
    from pipeline.catalog import discover_videos
    from pipeline.storage.paths import DatasetPaths

    paths = DatasetPaths(tmp_path, "d")
    for name in ("v_a.avi", "v_b.mp4", "v_c.mov", "v_d.M4V", "notes.txt"):
        (paths.videos / "A").mkdir(parents=True, exist_ok=True)
        (paths.videos / "A" / name).write_bytes(b"x")
    _, listed = discover_videos(paths)
    assert sorted(listed) == ["v_a", "v_b", "v_c", "v_d"]
    assert [p.stem for p in find_videos(paths.videos)] == sorted(listed)
