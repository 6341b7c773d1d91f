"""Random draws of synthetic scenes: one class = appearance family x motion pattern.

The per-frame distributions of object position, orientation and scale are the same for
every motion of a family (position uniform on an off-screen torus, orientation uniform,
log-scale uniform on a cyclic interval), so a single frame says nothing about the motion.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.synth_scene import LOG_SCALE_RANGE, OSCILLATION_PERIOD, Family, ObjectTrack, Scene

DISTRACTOR_COLORS = ((110, 110, 110), (150, 150, 150))


MIN_SPEED = 1.0  # px/frame: slower actors are below TV-L1's JPEG code step (0.16 px) for most pixels
CAMERA_SPEED = 0.5  # px/frame, largest camera pan: a nuisance that must not swamp the actors' motion


def _speed(rng: np.random.Generator, max_motion: float) -> float:
    # Log-uniform from MIN_SPEED to max_motion px/frame, so small and large motions both occur.
    # (Version 1 drew from 0.4 px and panned the camera at up to 2 px/frame: the mean flow was 0.66 px,
    # and even a classifier on ground-truth flow statistics told the 8 motions apart only 52% of the time.)
    low = min(MIN_SPEED, max_motion)
    return float(math.exp(rng.uniform(math.log(low), math.log(max_motion))))


def _track(
    rng: np.random.Generator,
    scene_size: tuple[int, int],
    shape: str,
    texture: str,
    colors: np.ndarray,
    radius: float,
    motion: str,
    speed: float,
    tex_freq: float,
) -> ObjectTrack:
    width, height = scene_size
    zero = np.zeros(2)
    velocity, osc_amp, omega, log_s_rate = zero, zero, 0.0, 0.0
    ext = radius * math.exp(LOG_SCALE_RANGE[1])  # displacement at the rim ~ speed
    if motion == "translate_up":
        velocity = np.array([0.0, -speed])
    elif motion == "translate_down":
        velocity = np.array([0.0, speed])
    elif motion == "translate_horizontal":
        velocity = np.array([speed * rng.choice([-1.0, 1.0]), 0.0])
    elif motion == "translate_any":
        angle = rng.uniform(0, 2 * math.pi)
        velocity = speed * np.array([math.cos(angle), math.sin(angle)])
    elif motion == "rotate":
        omega = float(rng.choice([-1.0, 1.0]) * min(speed / ext, 0.5))
    elif motion in ("zoom_in", "zoom_out"):
        rate = min(speed / ext, 0.25)
        log_s_rate = rate if motion == "zoom_in" else -rate
    elif motion in ("oscillate_h", "oscillate_v"):
        amp = speed * OSCILLATION_PERIOD / (2 * math.pi)  # peak speed = amp * 2pi / period
        osc_amp = np.array([amp, 0.0]) if motion == "oscillate_h" else np.array([0.0, amp])
    else:
        raise ValueError(f"unknown motion {motion!r}")
    margin = ext * 1.25 + 1.0
    c0 = np.array([rng.uniform(-margin, width + margin), rng.uniform(-margin, height + margin)])
    return ObjectTrack(
        shape=shape,
        texture=texture,
        colors=colors,
        tex_freq=tex_freq,
        tex_phase=float(rng.uniform(0, 2 * math.pi)),
        radius=radius,
        c0=c0,
        velocity=velocity,
        osc_amp=osc_amp,
        osc_phase=float(rng.uniform(0, 2 * math.pi)),
        theta0=float(rng.uniform(0, 2 * math.pi)),
        omega=omega,
        log_s0=float(rng.uniform(*LOG_SCALE_RANGE)),
        log_s_rate=log_s_rate,
    )


def sample_scene(
    rng: np.random.Generator,
    appearance: Family,
    motion: str,
    width: int,
    height: int,
    max_motion: float,
) -> Scene:
    """Draw one clip of class (``appearance``, ``motion``)."""
    radius = 0.14 * min(width, height)
    jitter = rng.uniform(-20, 20, size=(2, 3))
    colors = np.clip(np.asarray(appearance.palette, dtype=float) + jitter, 0, 255)
    speed = _speed(rng, max_motion)
    # Two or three actors of the class, each independently placed on the torus, so that one is
    # usually well inside the frame although positions are uniform on the (larger) torus.
    objects = [
        _track(
            rng,
            (width, height),
            appearance.shape,
            appearance.texture,
            colors,
            radius,
            motion,
            speed * float(rng.uniform(0.8, 1.2)),
            tex_freq=float(rng.uniform(0.9, 1.3)),
        )
        for _ in range(int(rng.integers(2, 4)))
    ]
    if rng.random() < 0.5:  # a grey distractor drifting in any direction causes occlusions
        grey = np.asarray(DISTRACTOR_COLORS, dtype=float) + rng.uniform(-15, 15, size=(2, 1))
        distractor = _track(
            rng,
            (width, height),
            "ellipse",
            "waves",
            grey,
            radius * 0.8,
            "translate_any",
            _speed(rng, max_motion),
            tex_freq=float(rng.uniform(0.6, 1.0)),
        )
        objects.insert(int(rng.integers(0, len(objects) + 1)), distractor)
    n_waves = 6
    periods = rng.uniform(10.0, 40.0, size=n_waves)  # px
    angles = rng.uniform(0, 2 * math.pi, size=n_waves)
    freqs = np.stack([np.cos(angles), np.sin(angles)], axis=1) / periods[:, None]  # (K, 2)
    camera = np.zeros(2)
    if rng.random() < 0.5:  # camera pans in half of the clips
        angle = rng.uniform(0, 2 * math.pi)
        camera = rng.uniform(0.0, CAMERA_SPEED) * np.array([math.cos(angle), math.sin(angle)])
    return Scene(
        width=width,
        height=height,
        bg_freqs=freqs,
        bg_phases=rng.uniform(0, 2 * math.pi, size=n_waves),
        # Mostly luminance texture with a little colour, so that the actors' palettes stand out.
        bg_colors=rng.uniform(-30, 30, size=(n_waves, 1)) + rng.uniform(-6, 6, size=(n_waves, 3)),
        bg_base=rng.uniform(100, 155) + rng.uniform(-10, 10, size=3),
        camera_velocity=camera,
        objects=tuple(objects),
    )
