"""Frame sizes as a named (width, height), so the order cannot be confused between commands."""

from __future__ import annotations

from typing import NamedTuple


class FrameSize(NamedTuple):
    """A frame size in pixels, written ``WxH`` on the command line (``340x256``: 340 wide, 256 high)."""

    width: int  # px
    height: int  # px
