"""Procedural scenes of the synthetic dataset: sampling, rendering and exact forward flow.

A scene is a textured background seen by a translating camera plus textured objects that
move by affine motions (translation, rotation, zoom, oscillation) and occlude each other.
Objects live on a torus the size of the frame: one that leaves on one side enters on the other,
so every actor is in view in every frame and its position is uniform at every time.
Every image value is an analytic function of continuous coordinates, so the correspondence
between two frames, and therefore the flow, is known exactly.

Coordinates: pixel centres at integer (x, y), x rightwards, y downwards. Flow at pixel x of
frame t is x' - x where x' is where the surface point seen at x lies in frame t+1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ufsn.errors import ConfigError

# Flip-invariant motion classes: TSN's horizontal-flip augmentation maps left<->right and
# clockwise<->anticlockwise onto each other, so those senses are drawn at random inside one
# class instead of being separate classes.
MOTIONS = (
    "translate_up",
    "translate_down",
    "zoom_in",
    "zoom_out",
    "rotate",
    "translate_horizontal",
    "oscillate_h",
    "oscillate_v",
)
SHAPES = ("disc", "square", "triangle", "cross", "ring", "diamond", "hexagon", "ellipse")
TEXTURES = ("stripes", "checker", "dots", "waves", "radial", "grid", "zigzag", "rings")
# Two RGB colours per appearance family (0..255).
PALETTES = (
    ((220, 40, 40), (250, 210, 60)),
    ((30, 80, 220), (90, 230, 240)),
    ((40, 170, 60), (230, 240, 120)),
    ((170, 40, 200), (250, 160, 220)),
    ((240, 130, 20), (60, 30, 20)),
    ((20, 20, 20), (240, 240, 240)),
    ((120, 60, 20), (60, 200, 160)),
    ((200, 200, 30), (30, 30, 160)),
)
LOG_SCALE_RANGE = (math.log(0.7), math.log(1.4))  # object scale relative to the base size (a zoom cycle: 2x)
OSCILLATION_PERIOD = 8.0  # frames
MAX_EXTENT = 1.25  # largest distance from the centre of any shape, local units (an object must fit half the frame)


@dataclass(frozen=True)
class Family:
    """An appearance family: shape, texture and palette (visible in a single frame)."""

    name: str
    shape: str
    texture: str
    palette: tuple[tuple[int, int, int], tuple[int, int, int]]


def family(index: int) -> Family:
    """The ``index``-th appearance family."""
    if not 0 <= index < len(SHAPES):
        raise ConfigError(f"at most {len(SHAPES)} appearance families, asked for index {index}")
    shape, texture = SHAPES[index], TEXTURES[index]
    name = shape.capitalize() + texture.capitalize()
    return Family(name=name, shape=shape, texture=texture, palette=PALETTES[index])


def camel(motion: str) -> str:
    """``translate_up`` -> ``TranslateUp`` (class names carry no underscores, as in UCF-101)."""
    return "".join(part.capitalize() for part in motion.split("_"))


@dataclass(frozen=True)
class ObjectTrack:
    """One object: appearance and its continuous affine trajectory."""

    shape: str
    texture: str
    colors: np.ndarray  # (2, 3) float
    tex_freq: float  # texture cycles per unit of local radius
    tex_phase: float
    detail_freq: float  # a finer copy of the texture on top (cycles per unit radius), so matching works at two scales
    detail_phase: float
    radius: float  # base radius in pixels
    c0: np.ndarray  # (2,) centre at t=0, pixels
    velocity: np.ndarray  # (2,) px/frame
    osc_amp: np.ndarray  # (2,) px
    osc_phase: float
    theta0: float
    omega: float  # rad/frame
    log_s0: float
    log_s_rate: float  # per frame

    def continuous_pose(self, t: float) -> tuple[np.ndarray, float, float]:
        """Centre (px), angle (rad) and log-scale at time ``t`` without wrapping."""
        w = 2 * math.pi / OSCILLATION_PERIOD
        centre = self.c0 + self.velocity * t + self.osc_amp * math.sin(w * t + self.osc_phase)
        return centre, self.theta0 + self.omega * t, self.log_s0 + self.log_s_rate * t


@dataclass(frozen=True)
class Scene:
    """A whole clip: background, camera and objects (drawn back to front)."""

    width: int
    height: int
    bg_freqs: np.ndarray  # (K, 2) cycles/px
    bg_phases: np.ndarray  # (K,)
    bg_colors: np.ndarray  # (K, 3)
    bg_base: np.ndarray  # (3,)
    camera_velocity: np.ndarray  # (2,) px/frame of the world under the camera
    objects: tuple[ObjectTrack, ...]

    def rendered_pose(self, obj: ObjectTrack, t: float) -> tuple[np.ndarray, float, float]:
        """Pose used for drawing: centre wrapped onto the frame-sized torus, log-scale cyclic."""
        centre, theta, log_s = obj.continuous_pose(t)
        centre = np.mod(centre, np.array([self.width, self.height], dtype=float))
        lo, hi = LOG_SCALE_RANGE
        log_s = lo + math.fmod(math.fmod(log_s - lo, hi - lo) + (hi - lo), hi - lo)
        return centre, theta, log_s


def _signed_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (local units, negative inside) of the unit-sized ``shape``."""
    if shape == "disc":
        return np.hypot(u, v) - 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.85
    if shape == "triangle":
        return np.maximum(np.maximum(-v - 0.55, 0.866 * u + 0.5 * v - 0.55), -0.866 * u + 0.5 * v - 0.55)
    if shape == "cross":
        return np.minimum(np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.4), np.maximum(np.abs(u) - 0.4, np.abs(v) - 1.0))
    if shape == "ring":
        return np.abs(np.hypot(u, v) - 0.72) - 0.3
    if shape == "diamond":
        return (np.abs(u) + np.abs(v) - 1.15) / math.sqrt(2)
    if shape == "hexagon":
        a = np.abs(u)
        b = np.abs(v)
        return np.maximum(b, 0.866 * a + 0.5 * b) - 0.9
    if shape == "ellipse":
        return np.hypot(u / 1.15, v / 0.7) - 1.0
    raise ConfigError(f"unknown shape {shape!r}; valid: {', '.join(SHAPES)}")


def _texture(kind: str, u: np.ndarray, v: np.ndarray, freq: float, phase: float) -> np.ndarray:
    """Smooth texture in [0, 1] of local coordinates; none is rotation-invariant."""
    w = 2 * math.pi * freq
    if kind == "stripes":
        s = np.cos(w * u + phase)
    elif kind == "checker":
        s = np.tanh(2.0 * np.sin(w * u + phase) * np.sin(w * v))
    elif kind == "dots":
        s = np.cos(w * u + phase) * np.cos(w * v) * 1.6 - 0.3
    elif kind == "waves":
        s = np.cos(w * u + 1.5 * np.sin(w * 0.7 * v) + phase)
    elif kind == "radial":
        s = np.cos(3.0 * np.arctan2(v, u) + w * 0.5 * np.hypot(u, v) + phase)
    elif kind == "grid":
        s = np.maximum(np.cos(w * u + phase), np.cos(w * 0.6 * v))
    elif kind == "zigzag":
        s = np.cos(w * v + 2.0 * np.abs(np.sin(w * 0.5 * u)) + phase)
    elif kind == "rings":
        s = np.cos(w * np.hypot(u - 0.35, v) + phase)
    else:
        raise ConfigError(f"unknown texture {kind!r}; valid: {', '.join(TEXTURES)}")
    return np.clip(0.5 + 0.5 * s, 0.0, 1.0)


def object_local(
    obj_pose: tuple[np.ndarray, float, float], radius: float, xs: np.ndarray, ys: np.ndarray, period: tuple[int, int]
):
    """Local unit coordinates (u, v) of pixels (xs, ys) for an object at ``obj_pose`` on a torus of ``period`` (W, H).

    Offsets from the centre take the nearest copy of the object (minimum image), so an object that
    crosses an edge is drawn on both sides; objects stay under half the frame (MAX_EXTENT).
    """
    centre, theta, log_s = obj_pose
    scale = radius * math.exp(log_s)
    w, h = period
    dx = _minimum_image(xs - centre[0], w)
    dy = _minimum_image(ys - centre[1], h)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    u = (cos_t * dx + sin_t * dy) / scale
    v = (-sin_t * dx + cos_t * dy) / scale
    return u, v, scale


def object_to_pixels(obj_pose: tuple[np.ndarray, float, float], radius: float, u: np.ndarray, v: np.ndarray):
    """Inverse of :func:`object_local`: pixel coordinates of local points (u, v)."""
    centre, theta, log_s = obj_pose
    scale = radius * math.exp(log_s)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    x = centre[0] + scale * (cos_t * u - sin_t * v)
    y = centre[1] + scale * (sin_t * u + cos_t * v)
    return x, y


def render(scene: Scene, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t`` as float RGB (H, W, 3) in 0..255 and its top-layer map (H, W) int.

    Layer 0 is the background; layer k >= 1 is ``scene.objects[k-1]`` where its coverage >= 0.5.
    """
    ys, xs = np.mgrid[0 : scene.height, 0 : scene.width].astype(np.float64)
    cam = -scene.camera_velocity * t  # world offset seen at pixel (0, 0)
    phase = (
        2
        * math.pi
        * ((xs[..., None] - cam[0]) * scene.bg_freqs[:, 0] + (ys[..., None] - cam[1]) * scene.bg_freqs[:, 1])
    )
    waves = np.cos(phase + scene.bg_phases)  # (H, W, K)
    image = scene.bg_base + waves @ scene.bg_colors  # (H, W, 3)
    layers = np.zeros((scene.height, scene.width), dtype=np.int16)
    for k, obj in enumerate(scene.objects, start=1):
        pose = scene.rendered_pose(obj, t)
        u, v, scale = object_local(pose, obj.radius, xs, ys, (scene.width, scene.height))
        alpha = np.clip(0.5 - _signed_distance(obj.shape, u, v) * scale, 0.0, 1.0)  # 1 px ramp
        coarse = _texture(obj.texture, u, v, obj.tex_freq, obj.tex_phase)
        fine = _texture(obj.texture, u, v, obj.detail_freq, obj.detail_phase)
        tex = (0.65 * coarse + 0.35 * fine)[..., None]
        colour = obj.colors[0] * (1 - tex) + obj.colors[1] * tex
        image = image * (1 - alpha[..., None]) + colour * alpha[..., None]
        layers[alpha >= 0.5] = k
    return np.clip(image, 0.0, 255.0), layers


def _minimum_image(offset: np.ndarray, period: int) -> np.ndarray:
    """``offset`` wrapped into [-period/2, period/2): the offset to the nearest copy on the torus."""
    return np.mod(offset + period / 2, period) - period / 2


def pair_flow(scene: Scene, t: int, layers_t: np.ndarray, layers_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact forward flow (H, W, 2) in px from frame t to t+1, and the occlusion mask (H, W).

    A pixel is occluded when its surface point leaves the image (objects re-enter on the other
    side, elsewhere), is covered in frame t+1 by another layer, or belongs to an object whose
    drawn scale jumps (the end of a zoom cycle).
    """
    h, w = layers_t.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    flow = np.empty((h, w, 2), dtype=np.float64)
    flow[..., 0] = -scene.camera_velocity[0]
    flow[..., 1] = -scene.camera_velocity[1]
    jumped = np.zeros(len(scene.objects) + 1, dtype=bool)
    for k, obj in enumerate(scene.objects, start=1):
        pose_t = scene.rendered_pose(obj, t)
        c0, th0, ls0 = obj.continuous_pose(t)
        c1, th1, ls1 = obj.continuous_pose(t + 1)
        pose_next = (pose_t[0] + (c1 - c0), pose_t[1] + (th1 - th0), pose_t[2] + (ls1 - ls0))
        jumped[k] = abs(scene.rendered_pose(obj, t + 1)[2] - pose_next[2]) > 1e-9  # the centre's wrap is seamless
        mask = layers_t == k
        u, v, _ = object_local(pose_t, obj.radius, xs[mask], ys[mask], (w, h))
        x1, y1 = object_to_pixels(pose_next, obj.radius, u, v)  # unwrapped: pixels of the copy nearest each pixel
        shift_x = xs[mask] - pose_t[0][0] - _minimum_image(xs[mask] - pose_t[0][0], w)
        shift_y = ys[mask] - pose_t[0][1] - _minimum_image(ys[mask] - pose_t[0][1], h)
        flow[mask, 0] = x1 + shift_x - xs[mask]
        flow[mask, 1] = y1 + shift_y - ys[mask]
    tx, ty = xs + flow[..., 0], ys + flow[..., 1]
    inside = (tx > -0.5) & (tx < w - 0.5) & (ty > -0.5) & (ty < h - 0.5)
    ix = np.clip(np.rint(tx), 0, w - 1).astype(int)
    iy = np.clip(np.rint(ty), 0, h - 1).astype(int)
    same_layer = layers_next[iy, ix] == layers_t
    occluded = ~inside | ~same_layer | jumped[layers_t]
    return flow, occluded
