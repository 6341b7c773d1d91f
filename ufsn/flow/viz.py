"""Middlebury flow colour wheel (Baker et al. 2011) and the ``.flo`` file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.api import atomic_write_bytes
from ufsn.errors import InputError

FLO_MAGIC = 202021.25  # float32 tag "PIEH" of the Middlebury .flo format
UNKNOWN = 1e9  # .flo values above this mean "unknown"


def read_flo(path: Path) -> np.ndarray:
    """(H, W, 2) float32 flow (u, v) from a Middlebury ``.flo``; raises naming the file when malformed."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 12 or np.frombuffer(data[:4], "<f4")[0] != np.float32(FLO_MAGIC):
        raise InputError(f"{path}: not a .flo file (bad magic number)")
    w, h = (int(x) for x in np.frombuffer(data[4:12], "<i4"))
    if w <= 0 or h <= 0 or len(data) != 12 + 8 * w * h:
        raise InputError(f"{path}: size {len(data)} bytes does not match {w}x{h}")
    return np.frombuffer(data[12:], "<f4").reshape(h, w, 2).copy()  # (H, W, 2)


def write_flo(path: Path, flow: np.ndarray) -> None:
    """Write (H, W, 2) flow as ``.flo`` (atomic)."""
    flow = np.asarray(flow, dtype="<f4")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    atomic_write_bytes(Path(path), header + flow.tobytes())


def color_wheel() -> np.ndarray:
    """(55, 3) uint8 RGB wheel: red-yellow-green-cyan-blue-magenta with 15, 6, 4, 11, 13, 6 steps."""
    red, yellow, green, cyan, blue, magenta = (
        (255, 0, 0),
        (255, 255, 0),
        (0, 255, 0),
        (0, 255, 255),
        (0, 0, 255),
        (255, 0, 255),
    )
    segments = [(15, red, yellow), (6, yellow, green), (4, green, cyan), (11, cyan, blue), (13, blue, magenta),
                (6, magenta, red)]  # fmt: skip
    rows = []
    for n, start, end in segments:
        t = np.arange(n)[:, None] / n  # (n, 1)
        rows.append(np.floor(np.array(start) + (np.array(end) - np.array(start)) * t))  # (n, 3)
    return np.concatenate(rows).astype(np.uint8)  # (55, 3)


def flow_to_color(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """(H, W, 2) flow -> (H, W, 3) uint8 RGB: hue = direction, saturation = magnitude / ``max_flow``.

    ``max_flow`` defaults to the largest finite magnitude; unknown values (> 1e9) are black.
    """
    flow = np.asarray(flow, np.float64)
    unknown = np.any(~np.isfinite(flow) | (np.abs(flow) > UNKNOWN), axis=-1)  # (H, W)
    u, v = np.where(unknown, 0, flow[..., 0]), np.where(unknown, 0, flow[..., 1])
    rad = np.sqrt(u * u + v * v)
    scale = max_flow if max_flow else max(rad.max(), 1e-8)
    u, v, rad = u / scale, v / scale, rad / scale
    wheel = color_wheel().astype(np.float64) / 255.0  # (55, 3)
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in (-1, 1]; the Middlebury convention (u>0 is red)
    fk = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(fk).astype(int)
    k1 = (k0 + 1) % n
    f = (fk - k0)[..., None]
    col = (1 - f) * wheel[k0] + f * wheel[k1]  # (H, W, 3)
    small = (rad <= 1)[..., None]
    col = np.where(small, 1 - rad[..., None] * (1 - col), col * 0.75)  # saturate inside, darken outside
    col[unknown] = 0
    return np.floor(255 * col).astype(np.uint8)
