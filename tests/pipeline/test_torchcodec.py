"""--decoder torchcodec beside decord: agreement with the ffmpeg command line on real clips, errors, settings.

Measured on the 5 clips of ../shared/realdata (3 UCF-101, 2 HMDB-51: MPEG-4 part 2 in AVI, 320x240 yuv420p)
with torchcodec 0.17.0 on Debian's FFmpeg 5.1 (the same libraries as the ``ffmpeg`` command line) and
decord 0.6.0 on its own bundled FFmpeg, both through ``FrameStream``:

    clip                                   ffprobe  ffmpeg CLI  decord  torchcodec
    v_ApplyEyeMakeup_g01_c01                   164         164     164         164
    v_BaseballPitch_g01_c01                    107         107     107         107
    v_Basketball_g01_c01                       141         141     141         141
    April_09_brush_hair_u_nm_np1_ba_goo_0      408         408     408*        408
    Increase_stride_length_..._le_med_1         74          74      74*         74

    * decord itself returns 409 and 75, padding a repeat of the last frame; FrameStream drops it.

Pixels: every frame of both decoders equals the command line's ``-pix_fmt rgb24`` frame exactly (max abs
difference 0, mean 0, over all 894 frames), so the tests assert exact equality. The reference passes
``-fps_mode passthrough``: without it the rawvideo muxer keeps a constant frame rate and writes 165 frames
for v_ApplyEyeMakeup_g01_c01, duplicating one at a timestamp gap. ``ffprobe -count_frames`` counts the
frames that decode (``nb_read_frames``), not the packets (409 and 75 for the two HMDB-51 clips).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from extract_helpers import moving_frames, tree_digest, write_avi

from pipeline.cli import main
from pipeline.readers.decoders import frame_count, load_torchcodec, read_frames
from pipeline.readers.video import FrameStream, VideoError, check_complete
from pipeline.steps.extract import ExtractConfig
from pipeline.storage.manifest import read_manifest

CLIPS = {  # clip -> frames that decode (ffprobe -count_frames, nb_read_frames)
    "ucf101_videos/v_ApplyEyeMakeup_g01_c01.avi": 164,
    "ucf101_videos/v_BaseballPitch_g01_c01.avi": 107,
    "ucf101_videos/v_Basketball_g01_c01.avi": 141,
    "hmdb51_videos/April_09_brush_hair_u_nm_np1_ba_goo_0.avi": 408,
    "hmdb51_videos/Increase_stride_length_by_running_stairs__working_step_over_action_speed_development_climb_stairs_"
    "f_cm_np1_le_med_1.avi": 74,
}
HMDB_CLIP = "hmdb51_videos/April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
SHORT_CLIP = next(clip for clip, count in CLIPS.items() if count == 74)


@pytest.fixture(scope="module")
def torchcodec():
    """torchcodec with FFmpeg loaded; skip (with its one-line reason) only when FFmpeg's libraries are missing."""
    try:
        return load_torchcodec()
    except RuntimeError as exc:
        if "FFmpeg's shared libraries" not in str(exc):
            raise
        pytest.skip(str(exc))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"no {name} command (apt-get install ffmpeg)")
    return found


def _cli_frames(video: Path) -> np.ndarray:
    """(T, 240, 320, 3) RGB uint8: every frame the ffmpeg command line decodes, one per decoded frame."""
    command = [_tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(video), "-fps_mode", "passthrough"]
    raw = subprocess.run([*command, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    return np.frombuffer(raw.stdout, np.uint8).reshape(-1, 240, 320, 3)


def _ffprobe_count(video: Path) -> int:
    command = [_tool("ffprobe"), "-v", "error", "-select_streams", "v:0", "-count_frames"]
    command += ["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(video)]
    return int(subprocess.run(command, capture_output=True, check=True, text=True).stdout.strip())


@pytest.mark.parametrize("decoder", ["decord", "torchcodec"])
@pytest.mark.parametrize("clip", list(CLIPS), ids=lambda clip: Path(clip).stem[:24])
def test_decoders_give_the_ffmpeg_cli_frames(realdata, request, clip, decoder):
    if decoder == "torchcodec":
        request.getfixturevalue("torchcodec")
    video = realdata / clip
    reference = _cli_frames(video)  # (T, H, W, 3)
    assert len(reference) == _ffprobe_count(video) == CLIPS[clip]
    stream = FrameStream(video, decoder)
    worst, total = 0, 0.0
    for index, frame in enumerate(stream):
        assert index < len(reference), f"more frames than the ffmpeg CLI ({len(reference)})"
        diff = np.abs(frame.astype(np.int16) - reference[index])  # (H, W, 3)
        worst, total = max(worst, int(diff.max())), total + float(diff.mean())
    assert stream.report.decoder == decoder and stream.report.decoded == len(reference)
    assert (worst, total / len(reference)) == (0, 0.0), f"max abs diff {worst}, mean {total / len(reference)}"
    check_complete(stream.report, video, allow_truncated=False)


def test_torchcodec_reads_frames_the_public_api_gets_wrong(realdata, torchcodec):
    # The last HMDB-51 frame has no timestamp and the clip's frame index is shifted after a seek;
    # read_frames decodes from the start and returns the command line's frames.
    video = realdata / HMDB_CLIP
    reference = _cli_frames(video)
    assert np.array_equal(read_frames(video, [406, 407, 3], "torchcodec"), reference[[406, 407, 3]])
    assert np.array_equal(read_frames(video, None, "torchcodec"), reference)
    assert frame_count(video, "torchcodec") == 408 and frame_count(video, "decord") == 409  # decord pads one
    with pytest.raises(IndexError, match="frame 408 .* only 408 frames decode"):
        read_frames(video, [407, 408], "torchcodec")


def test_decord_pairs_read_without_seeking_are_the_cli_frames(realdata):
    # decord's get_batch([t]) after a fresh open returns a wrong frame in this clip (frame t - 1 early on);
    # read_frames decodes in order, so stage 1's pairs read from videos are the frames they claim to be.
    video = realdata / HMDB_CLIP
    reference = _cli_frames(video)
    for t in (0, 5, 100, 300):
        assert np.array_equal(read_frames(video, [t, t + 1], "decord"), reference[[t, t + 1]])
    with pytest.raises(IndexError, match="only 409 frames decode"):
        read_frames(video, [409, 410], "decord")


def test_torchcodec_truncated_real_clip_is_detected(realdata, torchcodec, tmp_path):
    data = (realdata / "ucf101_videos" / "v_Basketball_g01_c01.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    stream = FrameStream(cut, "torchcodec")
    count = sum(1 for _ in stream)
    assert count == stream.report.decoded == 73 and stream.report.header == 141
    with pytest.raises(VideoError, match="truncated: header 141, decoded 73"):
        check_complete(stream.report, cut, allow_truncated=False)


def test_torchcodec_stream_matches_opencv_on_mjpg(torchcodec, tmp_path):
    import cv2

    video = write_avi(tmp_path / "A" / "v_a.avi", moving_frames(12), fps=20.0)
    stream = FrameStream(video, "torchcodec")
    got = np.stack(list(stream))  # (12, 64, 96, 3)
    cap = cv2.VideoCapture(str(video))
    reference = []
    while (item := cap.read())[0]:
        reference.append(item[1][..., ::-1])
    assert got.shape == (12, 64, 96, 3) and stream.report.decoded == len(reference) == 12
    assert (stream.report.decoder, stream.report.fps, stream.report.note) == ("torchcodec", 20.0, "")
    assert np.abs(got.astype(int) - np.stack(reference)).max() <= 3  # two MJPEG decoders: IDCT rounding


def test_cli_torchcodec_corrupt_inputs_fail_rows(torchcodec, tmp_path):
    videos = tmp_path / "d" / "videos" / "A"
    write_avi(videos / "v_good.avi", moving_frames(8))
    long = write_avi(tmp_path / "long.avi", moving_frames(40)).read_bytes()
    (videos / "v_truncated.avi").write_bytes(long[: len(long) // 2])
    (videos / "v_random.avi").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    args = ["extract", "--root", str(tmp_path), "--dataset", "d", "--decoder", "torchcodec"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    rows = read_manifest(tmp_path / "d" / "manifest" / "extract.csv")
    assert rows["v_good"].status == "done" and rows["v_good"].frames == 8
    assert rows["v_truncated"].error.startswith("truncated: header 40, decoded ")
    assert rows["v_random"].error.startswith("cannot decode ") and "torchcodec: " in rows["v_random"].error


def test_extract_records_the_decoder_and_refuses_another(realdata, torchcodec, tmp_path):
    clip = realdata / SHORT_CLIP
    (tmp_path / "v" / "A").mkdir(parents=True)
    (tmp_path / "v" / "A" / clip.name).symlink_to(clip)
    runner = CliRunner()
    base = ["extract", "--dataset", "d", "--videos", str(tmp_path / "v")]
    made = {}
    for decoder in ("decord", "torchcodec"):
        root = tmp_path / decoder
        result = runner.invoke(main, [*base, "--root", str(root), "--decoder", decoder])
        assert result.exit_code == 0, result.output
        record = json.loads((root / "d" / "frames" / "extract_config.json").read_text())
        assert (record["decoder"], record["device"]) == (decoder, "cpu")
        assert f"{decoder}_version" in record
        made[decoder] = tree_digest(root / "d" / "frames" / clip.stem)
    assert len(made["decord"]) == 74 and made["decord"] == made["torchcodec"]  # the same pixels: the same JPEGs

    root = tmp_path / "torchcodec"
    refused = runner.invoke(main, [*base, "--root", str(root)])  # decord by default
    assert refused.exit_code == 1 and "decoder: 'torchcodec' -> 'decord'" in refused.output, refused.output
    # A record written before the decoder was a setting is read as decord on the CPU.
    settings = root / "d" / "frames" / "extract_config.json"
    record = json.loads(settings.read_text())
    for key in ("decoder", "device", "torchcodec_version"):
        del record[key]
    settings.write_text(json.dumps(record))
    assert runner.invoke(main, [*base, "--root", str(root)]).exit_code == 0
    settings.write_text(json.dumps(record))
    again = runner.invoke(main, [*base, "--root", str(root), "--decoder", "torchcodec"])
    assert again.exit_code == 1 and "decoder: 'decord' -> 'torchcodec'" in again.output, again.output


def test_choices_are_checked_when_built(tmp_path):
    with pytest.raises(ValueError, match=r"decoder = 'pyav'; valid values: 'decord', 'torchcodec'"):
        ExtractConfig(decoder="pyav")
    with pytest.raises(ValueError, match=r"device = 'tpu'; valid values: 'cpu', 'cuda'"):
        ExtractConfig(decoder="torchcodec", device="tpu")
    with pytest.raises(ValueError, match="--device cuda needs --decoder torchcodec"):
        ExtractConfig(device="cuda")
    with pytest.raises(ValueError, match="--device cuda needs --decoder torchcodec"):
        FrameStream(tmp_path / "x.avi", "decord", "cuda")
    result = CliRunner().invoke(main, ["extract", "--root", str(tmp_path), "--dataset", "d", "--device", "cuda"])
    text = result.output.strip().splitlines()[-1]
    assert result.exit_code == 2 and "--device cuda needs --decoder torchcodec" in text, result.output


def test_cuda_without_a_device_is_one_line(torchcodec, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without an NVIDIA GPU
    write_avi(tmp_path / "d" / "videos" / "A" / "v_a.avi", moving_frames(4))
    args = ["extract", "--root", str(tmp_path), "--dataset", "d", "--decoder", "torchcodec", "--device", "cuda"]
    result = CliRunner().invoke(main, args)
    text = result.output.strip()
    assert result.exit_code == 1 and "\n" not in text, result.output
    assert text.startswith("Error: --device cuda: torch ") and "sees no CUDA device" in text
    assert not (tmp_path / "d" / "frames").exists()  # refused before anything was written


def test_missing_ffmpeg_at_import_is_one_line(monkeypatch):
    # torchcodec before 0.17 raises this (40 lines) from `import torchcodec` when FFmpeg's libraries are absent.
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name.split(".")[0] == "torchcodec":
            raise RuntimeError("Could not load libtorchcodec. Likely causes:\n  1. FFmpeg is not properly installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(RuntimeError) as caught:
        load_torchcodec()
    message = str(caught.value)
    assert "\n" not in message and message.startswith("--decoder torchcodec needs FFmpeg's shared libraries")
    for install in ("apt-get install ffmpeg", "conda install ffmpeg", "brew install ffmpeg"):
        assert install in message
    assert message.endswith("torchcodec said: Could not load libtorchcodec. Likely causes:")


def test_missing_ffmpeg_with_the_real_torchcodec_is_one_line(tmp_path):
    # torchcodec 0.17 imports without FFmpeg and fails at the first decoder. Hide its FFmpeg-linked
    # libraries (libtorchcodec_core*.so, one per FFmpeg major version) in a linked copy of the package.
    package = Path(pytest.importorskip("torchcodec").__file__).parent
    shadow = tmp_path / "torchcodec"
    shadow.mkdir()
    for entry in package.iterdir():
        if not entry.name.startswith("libtorchcodec_core"):
            (shadow / entry.name).symlink_to(entry)
    write_avi(tmp_path / "A" / "v_a.avi", moving_frames(4))
    script = (
        "import sys; from pathlib import Path; from pipeline.readers.video import FrameStream\n"
        "try:\n    list(FrameStream(Path(sys.argv[1]), 'torchcodec'))\n"
        "except RuntimeError as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # the shadow package before site-packages
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "A" / "v_a.avi")], env=env,
                         capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=120)  # fmt: skip
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0 and len(lines) == 1, (run.stdout, run.stderr[-2000:])
    assert lines[0].startswith("--decoder torchcodec needs FFmpeg's shared libraries (4 to 9): apt-get install ffmpeg")
    assert "torchcodec said: Could not load libtorchcodec" in lines[0]
