"""Random draws of synthetic scenes: one class = appearance family x motion pattern.

The per-frame distributions of object position, orientation and scale are the same for
every motion of a family (position uniform on the frame-sized torus, orientation uniform,
log-scale uniform on a cyclic interval), so a single frame says nothing about the motion.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.synth.scene import LOG_SCALE_RANGE, MAX_EXTENT, OSCILLATION_PERIOD, Family, ObjectTrack, Scene
from ufsn.errors import ConfigError

MIN_SPEED = 1.0  # px/frame: slower actors are below TV-L1's JPEG code step (0.16 px) for most pixels
CAMERA_SPEED = 0.5  # px/frame, largest camera pan: a nuisance that must not swamp the actors' motion
ACTOR_RADIUS = 0.25  # base radius / short side: each actor covers ~1/5 of the frame, and fits half of it
BACKGROUND_PERIODS = (5.0, 40.0)  # px, log-uniform: texture at every scale the flow pyramid sees


def _speed(rng: np.random.Generator, max_motion: float) -> float:
    # Log-uniform from MIN_SPEED to max_motion px/frame, so small and large motions both occur.
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
    """One actor of ``motion`` at ``speed`` px/frame (largest displacement), placed uniformly on the torus."""
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
    elif motion == "rotate":
        omega = float(rng.choice([-1.0, 1.0]) * min(speed / ext, 0.5))
    elif motion in ("zoom_in", "zoom_out"):
        rate = min(speed / ext, 0.25)
        log_s_rate = rate if motion == "zoom_in" else -rate
    elif motion in ("oscillate_h", "oscillate_v"):
        amp = speed * OSCILLATION_PERIOD / (2 * math.pi)  # peak speed = amp * 2pi / period
        osc_amp = np.array([amp, 0.0]) if motion == "oscillate_h" else np.array([0.0, amp])
    else:
        raise ConfigError(f"unknown motion {motion!r}")
    if ext * MAX_EXTENT >= min(width, height) / 2:
        raise ConfigError(f"actors of radius {radius:.1f} px do not fit the frame-sized torus of {width}x{height}")
    c0 = np.array([rng.uniform(0, width), rng.uniform(0, height)])  # uniform on the torus, so at every time
    return ObjectTrack(
        shape=shape,
        texture=texture,
        colors=colors,
        tex_freq=tex_freq,
        tex_phase=float(rng.uniform(0, 2 * math.pi)),
        detail_freq=tex_freq * float(rng.uniform(2.2, 2.8)),
        detail_phase=float(rng.uniform(0, 2 * math.pi)),
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
    radius = ACTOR_RADIUS * min(width, height)
    jitter = rng.uniform(-20, 20, size=(2, 3))
    colors = np.clip(np.asarray(appearance.palette, dtype=float) + jitter, 0, 255)
    speed = _speed(rng, max_motion)
    # Two or three actors of the class, each placed independently on the torus, all with the clip's motion.
    objects = tuple(
        _track(
            rng,
            (width, height),
            appearance.shape,
            appearance.texture,
            colors,
            radius,
            motion,
            speed * float(rng.uniform(0.8, 1.2)),
            tex_freq=float(rng.uniform(1.0, 1.5)),
        )
        for _ in range(int(rng.integers(2, 4)))
    )
    n_waves = 12
    periods = np.exp(rng.uniform(*np.log(BACKGROUND_PERIODS), size=n_waves))  # px
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
        bg_colors=rng.uniform(-22, 22, size=(n_waves, 1)) + rng.uniform(-5, 5, size=(n_waves, 3)),
        bg_base=rng.uniform(100, 155) + rng.uniform(-10, 10, size=3),
        camera_velocity=camera,
        objects=objects,
    )
