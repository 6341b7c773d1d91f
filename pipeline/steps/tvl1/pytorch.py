"""Dual TV-L1 optical flow in PyTorch: OpenCV contrib's ``DualTVL1OpticalFlow`` on a batch of pairs, any device.

The scheme is Zach, Pock & Bischof (2007) as Sánchez, Meinhardt-Llopis & Facciolo (IPOL 2013) describe
it and ``cv::optflow::DualTVL1OpticalFlow`` implements it, step for step:

- grey levels in 0..255 (float32); a pyramid of ``nscales`` levels, each resized from the one above by
  ``scale_step`` with bilinear interpolation (``cv::resize`` INTER_LINEAR, half-pixel centres, edge clamp),
  stopping before a level narrower or lower than 16 px;
- coarse to fine: zero flow at the coarsest level, the flow resized bilinearly to the next level and
  divided by ``scale_step``;
- per level ``warps`` times: ``I1`` and its centred gradient warped by the flow with bicubic interpolation
  (``cv::remap`` INTER_CUBIC, zero outside the image),
  then up to ``outer_iterations`` x ``inner_iterations`` steps of the thresholding step (v), the primal
  step (u) and the dual step (p), a ``median_filtering`` x ``median_filtering`` median of the flow before
  every block of inner steps, and a stop once the squared flow change summed over the level falls to
  ``epsilon^2 * pixels``;
- with ``gamma > 0`` a third primal variable models illumination change, as OpenCV's.

Every pair of the batch has its own stopping test: a pair that has converged keeps its flow while the
others go on, so a batch gives each pair the flow it would get alone. The only differences from OpenCV
are float rounding (sums in another order; OpenCV's resize may use IPP) — ``ufsn-bench perf tvl1``
measures the EPE between the two. ``video_flows`` runs it over one video's frames, ``auto_batch`` pairs per call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.steps.tvl1.frames import read_grey
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.steps.tvl1.video import FlowSettings
from ufsn.errors import InputError

MIN_LEVEL_SIDE = 16  # OpenCV stops the pyramid before a level narrower or lower than this
FLOAT_EPS = float(np.finfo(np.float32).eps)  # OpenCV's numeric_limits<float>::epsilon() in the v step
DEFAULT_PARAMS = TVL1Params()  # OpenCV's defaults
SYNC_EVERY = 10  # on a GPU, look at the stopping test (a device sync) every this many inner steps
# Pixels per call of video_flows: on a CPU a 340x256 pair alone is fastest (ufsn-bench perf tvl1: batch 1
# 1.96x OpenCV's pairs/s, batch 4 1.13x), while 64x64 pairs gain from batching (per-iteration overhead);
# a GPU wants many pairs in flight.
AUTO_BATCH_PIXELS = {"cpu": 2**17, "cuda": 2**23}


def pyramid_sizes(height: int, width: int, nscales: int, scale_step: float) -> list[tuple[int, int]]:
    """(H, W) of every pyramid level, finest first, as ``cv::resize(..., Size(), s, s)`` rounds them."""
    sizes = [(height, width)]
    for _ in range(1, nscales):
        h, w = sizes[-1]
        nxt = (round(h * scale_step), round(w * scale_step))  # cvRound: nearest, ties to even
        if nxt[0] < MIN_LEVEL_SIDE or nxt[1] < MIN_LEVEL_SIDE:
            break
        sizes.append(nxt)
    return sizes


def _pixel_grid(height: int, width: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(height, device=device, dtype=dtype).view(1, height, 1)  # (1, H, 1)
    xs = torch.arange(width, device=device, dtype=dtype).view(1, 1, width)  # (1, 1, W)
    return xs, ys


def _normalised(x: torch.Tensor, y: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates -> grid_sample's [-1, 1] (align_corners=False: pixel centres at (2i + 1) / n - 1)."""
    return torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)  # (B, H, W, 2)


def resize_bilinear(x: torch.Tensor, size: tuple[int, int], scale: float | None = None) -> torch.Tensor:
    """``cv::resize`` INTER_LINEAR of (B, C, h, w) to ``size`` (H, W).

    Output pixel ``i`` samples the input at ``(i + 0.5) / s - 0.5``, clamped to the edge pixels, where ``s``
    is ``scale`` when given (``resize(src, dst, Size(), s, s)``) and the size ratio otherwise
    (``resize(src, dst, size)``).
    """
    b, _, h, w = x.shape
    out_h, out_w = size
    sy, sx = (scale, scale) if scale is not None else (out_h / h, out_w / w)
    xs, ys = _pixel_grid(out_h, out_w, x.device, x.dtype)
    src_x = ((xs + 0.5) / sx - 0.5).expand(b, out_h, out_w)  # (B, H, W)
    src_y = ((ys + 0.5) / sy - 0.5).expand(b, out_h, out_w)  # (B, H, W)
    grid = _normalised(src_x, src_y, h, w)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)  # (B, C, H, W)


def centred_gradient(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenCV's ``centeredGradient`` of (B, 1, H, W): half central differences, half one-sided at the edges."""
    pad_x = torch.cat([img[..., :, :1], img, img[..., :, -1:]], dim=-1)  # (B, 1, H, W + 2), edge replicated
    pad_y = torch.cat([img[..., :1, :], img, img[..., -1:, :]], dim=-2)  # (B, 1, H + 2, W)
    gx = 0.5 * (pad_x[..., :, 2:] - pad_x[..., :, :-2])  # (B, 1, H, W)
    gy = 0.5 * (pad_y[..., 2:, :] - pad_y[..., :-2, :])  # (B, 1, H, W)
    return gx, gy


def forward_gradient(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of (B, C, H, W); zero in the last column (x) and the last row (y)."""
    ux = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1))  # (B, C, H, W)
    uy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))  # (B, C, H, W)
    return ux, uy


def divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Backward-difference divergence of the dual field, (B, C, H, W) each; the adjoint of ``forward_gradient``."""
    dx = px - F.pad(px[..., :, :-1], (1, 0))  # (B, C, H, W), px(x - 1) = 0 left of the image
    dy = py - F.pad(py[..., :-1, :], (0, 0, 1, 0))  # (B, C, H, W), py(y - 1) = 0 above the image
    return dx + dy


def warp_bicubic(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``cv::remap(img, x + u, y + v, INTER_CUBIC)`` with the default constant-0 border.

    img (B, C, H, W); flow (B, 2, H, W) in px. The cubic kernel is remap's (A = -0.75); OpenCV 5 samples
    float maps of a float image at the exact coordinates, as grid_sample does.
    """
    b, _, h, w = img.shape
    xs, ys = _pixel_grid(h, w, img.device, img.dtype)
    grid = _normalised(xs + flow[:, 0], ys + flow[:, 1], h, w)  # (B, H, W, 2)
    return F.grid_sample(img, grid, mode="bicubic", padding_mode="zeros", align_corners=False)  # (B, C, H, W)


def _exchange(values: list[torch.Tensor], i: int, j: int) -> None:
    low, high = torch.minimum(values[i], values[j]), torch.maximum(values[i], values[j])
    values[i], values[j] = low, high


def window_median(padded: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """Median of every ``size`` x ``size`` window of (B, C, H + size - 1, W + size - 1) -> (B, C, H, W).

    Forgetful selection (Paeth): of the first n // 2 + 2 window values, the smallest and the largest cannot
    be the median, so both are dropped and the next value comes in, until one value is left. Only
    element-wise min and max on shifted views: exact, and it fuses under ``torch.compile``.
    """
    window = [padded[..., dy : dy + height, dx : dx + width] for dy in range(size) for dx in range(size)]
    n = len(window)
    kept, rest = window[: n // 2 + 2], window[n // 2 + 2 :]
    while True:
        for i in range(1, len(kept)):  # smallest to the front
            _exchange(kept, 0, i)
        for i in range(1, len(kept) - 1):  # largest (of the others) to the back
            _exchange(kept, i, len(kept) - 1)
        kept = kept[1:-1]
        if not rest:
            return kept[0]
        kept.append(rest.pop(0))


def median_blur(u: torch.Tensor, size: int, select=window_median) -> torch.Tensor:
    """``cv::medianBlur`` of float (B, C, H, W): the median of each ``size`` x ``size`` window, edges replicated.

    ``select`` is ``window_median`` or its compiled form.
    """
    _, _, h, w = u.shape
    r = size // 2
    padded = F.pad(u, (r, r, r, r), mode="replicate")  # (B, C, H + 2r, W + 2r)
    return select(padded, size, h, w)  # (B, C, H, W)


def threshold_step(
    u: torch.Tensor, gvec: torch.Tensor, grad: torch.Tensor, rho_c: torch.Tensor, l_t: float
) -> torch.Tensor:
    """The thresholding step TH (OpenCV's ``estimateV``): v = u + fi * gvec.

    u, gvec (B, C, H, W) with gvec = (I1wx, I1wy[, gamma]); grad, rho_c (B, 1, H, W). rho is the
    linearised residual at u; fi is l_t or -l_t outside the band |rho| <= l_t |grad I1|^2 and -rho / |grad I1|^2
    inside it (0 where the gradient vanishes).
    """
    rho = rho_c + (gvec * u).sum(dim=1, keepdim=True)  # (B, 1, H, W)
    band = l_t * grad  # (B, 1, H, W)
    inside = torch.where(grad > FLOAT_EPS, -rho / grad.clamp_min(FLOAT_EPS), torch.zeros_like(rho))
    fi = torch.where(rho < -band, l_t, torch.where(rho > band, -l_t, inside))  # (B, 1, H, W)
    return u + fi * gvec  # (B, C, H, W)


def dual_step(px: torch.Tensor, py: torch.Tensor, u: torch.Tensor, taut: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Projected dual ascent (OpenCV's ``estimateDualVariables``): p <- (p + taut grad u) / (1 + taut |grad u|)."""
    ux, uy = forward_gradient(u)  # (B, C, H, W) each
    norm = 1.0 + taut * torch.sqrt(ux * ux + uy * uy)  # (B, C, H, W)
    return (px + taut * ux) / norm, (py + taut * uy) / norm


def _keep(active: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(active.view(-1, 1, 1, 1), new, old)


def inner_step(
    u: torch.Tensor,
    px: torch.Tensor,
    py: torch.Tensor,
    gvec: torch.Tensor,
    grad: torch.Tensor,
    rho_c: torch.Tensor,
    active: torch.Tensor,
    l_t: float,
    theta: float,
    taut: float,
    stop: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One inner iteration for every pair: v step, u step, p step; pairs not ``active`` (B,) keep their values.

    u, px, py, gvec (B, C, H, W); grad, rho_c (B, 1, H, W). Returns the new u, px, py and ``active``: a pair
    stays active while its squared u change summed over the level (OpenCV's stopping quantity) is above ``stop``.
    """
    v = threshold_step(u, gvec, grad, rho_c, l_t)  # (B, C, H, W)
    new_u = v + theta * divergence(px, py)  # (B, C, H, W)
    change = (new_u - u).pow(2).sum(dim=(1, 2, 3))  # (B,)
    u = _keep(active, new_u, u)
    new_px, new_py = dual_step(px, py, u, taut)
    return u, _keep(active, new_px, px), _keep(active, new_py, py), active & (change > stop)


@functools.cache
def compiled(function):
    """``function`` through ``torch.compile``, one graph for every level size: the ~30 element-wise operations
    of ``inner_step`` (the ~350 min/max of ``window_median``) become a few fused loops on a CPU, a few kernels
    on a GPU."""
    return torch.compile(function, dynamic=True)


def flow_one_scale(
    i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor, params: TVL1Params, step=inner_step, select=window_median
) -> torch.Tensor:
    """Refine the flow at one pyramid level (OpenCV's ``procOneScale``).

    i0, i1 (B, 1, H, W) grey 0..255; u (B, C, H, W) the initial flow (C = 3 with gamma: flow + illumination).
    ``step`` and ``select`` are ``inner_step`` and ``window_median`` or their compiled forms. Returns the
    refined (B, C, H, W).
    """
    b, _, h, w = i0.shape
    l_t = params.lambda_ * params.theta
    taut = params.tau / params.theta
    stop = params.epsilon * params.epsilon * h * w  # squared change summed over the level
    sync_every = 1 if i0.device.type == "cpu" else SYNC_EVERY
    i1x, i1y = centred_gradient(i1)  # (B, 1, H, W) each
    stacked = torch.cat([i1, i1x, i1y], dim=1)  # (B, 3, H, W): warped together
    px = torch.zeros_like(u)  # (B, C, H, W): dual variable, x part, reset per level
    py = torch.zeros_like(u)
    for _ in range(params.warps):
        i1w, i1wx, i1wy = warp_bicubic(stacked, u[:, :2]).split(1, dim=1)  # (B, 1, H, W) each
        grad = i1wx * i1wx + i1wy * i1wy  # (B, 1, H, W), |grad I1(x + u0)|^2
        rho_c = i1w - i1wx * u[:, :1] - i1wy * u[:, 1:2] - i0  # (B, 1, H, W), constant part of the residual
        parts = [i1wx, i1wy] + ([torch.full_like(i1wx, params.gamma)] if u.shape[1] == 3 else [])
        gvec = torch.cat(parts, dim=1)  # (B, C, H, W)
        active = torch.ones(b, dtype=torch.bool, device=u.device)  # (B,): pairs not yet converged
        for _outer in range(params.outer_iterations):
            if not bool(active.any()):
                break
            if params.median_filtering > 1:
                flow = _keep(active, median_blur(u[:, :2], params.median_filtering, select), u[:, :2])
                u = torch.cat([flow, u[:, 2:]], dim=1)
            for inner in range(params.inner_iterations):
                u, px, py, active = step(u, px, py, gvec, grad, rho_c, active, l_t, params.theta, taut, stop)
                if (inner + 1) % sync_every == 0 and not bool(active.any()):
                    break
    return u


def tvl1_flow(
    gray0: torch.Tensor, gray1: torch.Tensor, params: TVL1Params = DEFAULT_PARAMS, compile: bool = False
) -> torch.Tensor:
    """Dual TV-L1 flow from ``gray0`` to ``gray1``, every pair of the batch at once.

    gray0, gray1: (B, 1, H, W) grey levels 0..255 (any float or uint8 dtype; computed in float32).
    compile: run the inner iteration through ``torch.compile`` (a one-off build, then several times faster).
    Returns (B, 2, H, W) float32 flow in px; channel 0 = x (rightwards), 1 = y (downwards).
    """
    if gray0.shape != gray1.shape or gray0.dim() != 4 or gray0.shape[1] != 1:
        shapes = f"{tuple(gray0.shape)} and {tuple(gray1.shape)}"
        raise ValueError(f"need two (B, 1, H, W) batches of one shape, got {shapes}")
    i0, i1 = gray0.float(), gray1.float()
    b, _, h, w = i0.shape
    if h < 3 or w < 3:
        raise InputError(f"TV-L1 needs frames of at least 3x3 px, got {w}x{h}")
    sizes = pyramid_sizes(h, w, params.nscales, params.scale_step)
    pyramid = [(i0, i1)]
    for size in sizes[1:]:
        both = resize_bilinear(torch.cat(pyramid[-1]), size, params.scale_step)  # (2B, 1, h, w)
        pyramid.append((both[:b], both[b:]))
    step, select = (compiled(inner_step), compiled(window_median)) if compile else (inner_step, window_median)
    channels = 3 if params.gamma != 0 else 2
    u = i0.new_zeros(b, channels, *sizes[-1])  # (B, C, h, w) at the coarsest level
    for level in range(len(sizes) - 1, -1, -1):
        u = flow_one_scale(*pyramid[level], u, params, step, select)
        if level > 0:
            u = resize_bilinear(u, sizes[level - 1])  # (B, C, h', w')
            u = torch.cat([u[:, :2] / params.scale_step, u[:, 2:]], dim=1)  # flow in px of the finer level
    return u[:, :2].contiguous()


def tvl1_flow_numpy(
    grays0: np.ndarray,
    grays1: np.ndarray,
    params: TVL1Params = DEFAULT_PARAMS,
    device: str = "cpu",
    compile: bool = False,
) -> np.ndarray:
    """``tvl1_flow`` on (B, H, W) uint8 arrays; returns (B, H, W, 2) float32 like ``compute_tvl1``."""
    dev = torch.device(device)
    g0 = torch.from_numpy(np.ascontiguousarray(grays0)).to(dev).unsqueeze(1)  # (B, 1, H, W)
    g1 = torch.from_numpy(np.ascontiguousarray(grays1)).to(dev).unsqueeze(1)
    with torch.no_grad():
        flow = tvl1_flow(g0, g1, params, compile)  # (B, 2, H, W)
    return flow.permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, 2)


def auto_batch(height: int, width: int, device: str) -> int:
    """Pairs per torch call for frames of ``height`` x ``width`` on ``device``."""
    return max(1, AUTO_BATCH_PIXELS[device] // (height * width))


def video_flows(frames: list[Path], s: FlowSettings) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (pair index from 1, (H, W, 2) flow) for consecutive ``frames``, ``s.batch`` pairs per call."""
    torch.set_num_threads(s.threads)
    greys = [read_grey(frames[0])]
    batch = s.batch or auto_batch(*greys[0].shape, s.device)
    for start in range(1, len(frames), batch):
        greys = greys[-1:] + [read_grey(p) for p in frames[start : start + batch]]  # (batch + 1) frames
        if len({g.shape for g in greys}) > 1:
            raise InputError(f"frames of {frames[0].parent} differ in size: {sorted({g.shape for g in greys})}")
        first, second = np.stack(greys[:-1]), np.stack(greys[1:])  # (b, H, W) uint8 each
        flows = tvl1_flow_numpy(first, second, s.params, s.device, s.compile)  # (b, H, W, 2)
        yield from enumerate(flows, start=start)
