"""Readers of the optical-flow benchmarks' own folder layouts: Middlebury, MPI-Sintel, KITTI-2015, FlyingChairs.

Every reader returns :class:`GroundTruthPair` items: RGB frames, flow in pixels, where the ground
truth is known (``valid``) and, where the benchmark says, where it is known and not occluded (``noc``).

- **Middlebury**: ``frame10.png``, ``frame11.png``, ``flow10.flo`` (values above 1e9 unknown).
- **MPI-Sintel**: ``<pass>/<scene>/frame_%04d.png`` (pass clean or final), ``flow/<scene>/frame_%04d.flo``
  (flow from frame i to i + 1), ``occlusions/`` and ``invalid/`` masks (255 = occluded / invalid), under
  the folder or its ``training/``.
- **KITTI-2015**: ``image_2/%06d_10.png`` and ``_11.png``, ``flow_occ/%06d_10.png`` (all pixels) and
  ``flow_noc/%06d_10.png`` (non-occluded): 16-bit PNGs with u = (R - 2^15) / 64, v = (G - 2^15) / 64 and
  valid = B > 0 (the devkit's encoding; OpenCV reads the channels as B, G, R). A folder holding only
  ``frame1.png``, ``frame2.png`` and ``flow_gt.png`` (the devkit's example) is read as one KITTI pair.
- **FlyingChairs**: ``%05d_img1.ppm``, ``_img2.ppm``, ``_flow.flo`` (the release), or ``%07d-img0.ppm``,
  ``-img1.ppm``, ``-gt.flo`` (FlowNet 2.0's examples).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import numpy as np

from ufsn.errors import ConfigError, InputError, MissingInputError
from ufsn.flow.viz import UNKNOWN, read_flo

FlowFormat = Literal["middlebury", "sintel", "kitti", "chairs"]
SintelPass = Literal["clean", "final"]
FORMATS: tuple[str, ...] = get_args(FlowFormat)
KITTI_OFFSET = 2**15  # the devkit stores u * 64 + 2^15 in 16 bits
KITTI_SCALE = 64.0
_CHAIRS = (re.compile(r"(\d+)_img1\.ppm"), "{}_img1.ppm", "{}_img2.ppm", "{}_flow.flo")
_CHAIRS_FLOWNET2 = (re.compile(r"(\d+)-img0\.ppm"), "{}-img0.ppm", "{}-img1.ppm", "{}-gt.flo")


class GroundTruthPair(NamedTuple):
    """One frame pair with ground-truth flow."""

    name: str  # where it came from, e.g. "sintel/clean/alley_1/frame_0001"
    img1: np.ndarray  # (H, W, 3) uint8 RGB
    img2: np.ndarray  # (H, W, 3) uint8 RGB
    flow: np.ndarray  # (H, W, 2) float32 px; 0 where not valid
    valid: np.ndarray  # (H, W) bool: ground truth known
    noc: np.ndarray | None  # (H, W) bool: known and not occluded; None where the benchmark does not say


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PNG/PPM; ``FileNotFoundError`` naming a missing or unreadable file."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MissingInputError(f"missing or unreadable {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def read_mask(path: Path) -> np.ndarray:
    """(H, W) bool of an 8-bit mask PNG (nonzero = set)."""
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise MissingInputError(f"missing or unreadable {path}")
    return mask > 0


def flo_with_valid(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Flow (H, W, 2) with unknown values set to 0, and where it is known (H, W)."""
    flow = read_flo(path)
    valid = np.all(np.abs(flow) < UNKNOWN, axis=-1)
    return np.where(valid[..., None], flow, 0).astype(np.float32), valid


def decode_kitti_flow(png: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The devkit's 16-bit flow PNG as OpenCV reads it, (H, W, 3) uint16 B, G, R -> flow (H, W, 2) px, valid (H, W)."""
    if png.dtype != np.uint16 or png.ndim != 3 or png.shape[2] != 3:
        raise InputError(f"a KITTI flow PNG is 16-bit with 3 channels, got {png.dtype} {png.shape}")
    valid = png[..., 0] > 0
    flow = (png[..., 2:0:-1].astype(np.float32) - KITTI_OFFSET) / KITTI_SCALE  # (H, W, 2): R -> u, G -> v
    return np.where(valid[..., None], flow, 0).astype(np.float32), valid


def encode_kitti_flow(flow: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Inverse of :func:`decode_kitti_flow`, for writing test data: (H, W, 3) uint16 B, G, R."""
    coded = np.clip(np.rint(flow * KITTI_SCALE + KITTI_OFFSET), 0, 2**16 - 1).astype(np.uint16)  # (H, W, 2)
    return np.dstack([valid.astype(np.uint16), coded[..., 1], coded[..., 0]])


def read_kitti_flow(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if png is None:
        raise MissingInputError(f"missing or unreadable {path}")
    try:
        return decode_kitti_flow(png)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def middlebury_pairs(folder: Path) -> list[GroundTruthPair]:
    flow, valid = flo_with_valid(folder / "flow10.flo")
    img1, img2 = read_rgb(folder / "frame10.png"), read_rgb(folder / "frame11.png")
    return [GroundTruthPair(f"middlebury/{folder.name}", img1, img2, flow, valid, None)]


def _sintel_base(folder: Path) -> Path:
    return folder / "training" if (folder / "training" / "flow").is_dir() else folder


def sintel_pairs(folder: Path, sintel_pass: SintelPass = "clean") -> list[GroundTruthPair]:
    """Every pair of every scene; ``noc`` = valid and not occluded (both masks optional)."""
    base = _sintel_base(folder)
    pairs = []
    for flo in sorted((base / "flow").glob("*/frame_*.flo")):
        scene, stem = flo.parent.name, flo.stem
        index = int(stem.split("_")[1])
        frames = base / sintel_pass / scene
        img1, img2 = read_rgb(frames / f"frame_{index:04d}.png"), read_rgb(frames / f"frame_{index + 1:04d}.png")
        flow, valid = flo_with_valid(flo)
        invalid = base / "invalid" / scene / f"{stem}.png"
        if invalid.is_file():
            valid &= ~read_mask(invalid)
        occluded = base / "occlusions" / scene / f"{stem}.png"
        noc = valid & ~read_mask(occluded) if occluded.is_file() else None
        flow = np.where(valid[..., None], flow, 0).astype(np.float32)
        pairs.append(GroundTruthPair(f"sintel/{sintel_pass}/{scene}/{stem}", img1, img2, flow, valid, noc))
    if not pairs:
        raise MissingInputError(f"no flow/<scene>/frame_*.flo under {base}")
    return pairs


def kitti_pairs(folder: Path) -> list[GroundTruthPair]:
    """KITTI-2015 training pairs: all-pixel ground truth from flow_occ, ``noc`` from flow_noc."""
    if (folder / "flow_gt.png").is_file() and not (folder / "image_2").is_dir():
        flow, valid = read_kitti_flow(folder / "flow_gt.png")
        img1, img2 = read_rgb(folder / "frame1.png"), read_rgb(folder / "frame2.png")
        return [GroundTruthPair(f"kitti/{folder.name}", img1, img2, flow, valid, None)]
    pairs = []
    for occ in sorted((folder / "flow_occ").glob("*_10.png")):
        frame = occ.name.removesuffix("_10.png")
        flow, valid = read_kitti_flow(occ)
        noc_file = folder / "flow_noc" / occ.name
        noc = read_kitti_flow(noc_file)[1] & valid if noc_file.is_file() else None
        img1 = read_rgb(folder / "image_2" / f"{frame}_10.png")
        img2 = read_rgb(folder / "image_2" / f"{frame}_11.png")
        pairs.append(GroundTruthPair(f"kitti/{frame}", img1, img2, flow, valid, noc))
    if not pairs:
        raise MissingInputError(f"no flow_occ/*_10.png under {folder}")
    return pairs


def chairs_pairs(folder: Path) -> list[GroundTruthPair]:
    """FlyingChairs pairs (the release's names, or FlowNet 2.0's examples); dense ground truth."""
    pairs = []
    for pattern, first, second, flo in (_CHAIRS, _CHAIRS_FLOWNET2):
        for path in sorted(folder.iterdir()):
            if m := pattern.fullmatch(path.name):
                key = m.group(1)
                flow, valid = flo_with_valid(folder / flo.format(key))
                img1, img2 = read_rgb(folder / first.format(key)), read_rgb(folder / second.format(key))
                pairs.append(GroundTruthPair(f"chairs/{key}", img1, img2, flow, valid, None))
    if not pairs:
        raise MissingInputError(f"no <n>_img1.ppm or <n>-img0.ppm in {folder}")
    return pairs


def detect_format(folder: Path) -> FlowFormat:
    """The benchmark whose layout ``folder`` has; ``ValueError`` listing what was looked for."""
    folder = Path(folder)
    if (folder / "flow10.flo").is_file():
        return "middlebury"
    if (_sintel_base(folder) / "flow").is_dir():
        return "sintel"
    if (folder / "flow_occ").is_dir() or (folder / "flow_gt.png").is_file():
        return "kitti"
    if any(p.name.endswith(("_img1.ppm", "-img0.ppm")) for p in folder.iterdir()):
        return "chairs"
    raise InputError(
        f"{folder}: no known flow benchmark layout (Middlebury flow10.flo, Sintel flow/, KITTI flow_occ/ "
        "or flow_gt.png, FlyingChairs *_img1.ppm); give --format"
    )


def benchmark_pairs(folder: Path, flow_format: FlowFormat | Literal["auto"] = "auto",
                    sintel_pass: SintelPass = "clean") -> tuple[FlowFormat, list[GroundTruthPair]]:  # fmt: skip
    """The pairs of one benchmark folder, in the given or detected format."""
    if flow_format not in (*FORMATS, "auto"):
        raise ConfigError(f"format must be one of auto, {', '.join(FORMATS)}, got {flow_format!r}")
    if sintel_pass not in get_args(SintelPass):
        raise ConfigError(f"sintel pass must be clean or final, got {sintel_pass!r}")
    found = detect_format(folder) if flow_format == "auto" else flow_format
    if found == "middlebury":
        return found, middlebury_pairs(Path(folder))
    if found == "sintel":
        return found, sintel_pairs(Path(folder), sintel_pass)
    if found == "kitti":
        return found, kitti_pairs(Path(folder))
    return found, chairs_pairs(Path(folder))
