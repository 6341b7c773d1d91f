"""JPEG encoders for extracted frames: libjpeg-turbo straight from RGB (simplejpeg) or OpenCV's imencode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# simplejpeg encodes the decoder's RGB directly; OpenCV first needs a BGR copy of every frame, which
# cost more than the encoding itself in the extract profile (340x256 frames).
ENCODERS = ("simplejpeg", "opencv")
LEGACY_ENCODER = "opencv"  # frame folders whose settings record predates the encoder key were made by it


def encoder_version(name: str) -> str:
    """Version of the library behind encoder ``name`` (for the settings record)."""
    if name == "simplejpeg":
        import simplejpeg

        return simplejpeg.__version__
    import cv2

    return cv2.__version__


def jpeg_encoder(name: str, quality: int) -> Callable[[np.ndarray], bytes]:
    """A function (H, W, 3) uint8 RGB (or (H, W, 4) RGBX) -> JPEG bytes at ``quality`` (libjpeg scale), 4:2:0."""
    if name == "simplejpeg":
        import simplejpeg

        def encode(rgb: np.ndarray) -> bytes:
            # Some decodes come with a fourth (padding) channel; libjpeg-turbo skips it as RGBX, as
            # OpenCV's RGB2BGR conversion drops it.
            space = "RGBX" if rgb.shape[-1] == 4 else "RGB"
            return simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=quality, colorspace=space,
                                          colorsubsampling="420")  # fmt: skip

        return encode
    if name == "opencv":
        import cv2

        params = [cv2.IMWRITE_JPEG_QUALITY, quality]

        def encode(rgb: np.ndarray) -> bytes:
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise RuntimeError("OpenCV JPEG encoding failed")
            return data.tobytes()

        return encode
    raise ValueError(f"unknown JPEG encoder {name!r}; valid: {', '.join(ENCODERS)}")
