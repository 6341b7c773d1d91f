"""Supervised flow for the ``supflow`` method: torchvision RAFT-small behind the FlowNet interface."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ufsn.errors import ConfigError, MissingWeightsError
from ufsn.flow.net import FlowOutput

RAFT_MIN_SIZE = 128  # RAFT's correlation pyramid needs feature maps >= 16 at stride 8


class RaftEstimator(nn.Module):
    """``RaftEstimator(img1, img2) -> FlowOutput``; images (B, 3, H, W) RGB in [0, 1], H and W
    multiples of 8 and at least 128 (RAFT's own requirements)."""

    def __init__(self, raft: nn.Module, updates: int = 12):
        super().__init__()
        self.raft = raft
        self.updates = updates

    def forward(self, img1: torch.Tensor, img2: torch.Tensor) -> FlowOutput:
        h, w = img1.shape[-2:]
        if h % 8 or w % 8 or min(h, w) < RAFT_MIN_SIZE:
            raise ConfigError(f"RAFT needs H, W multiples of 8 and >= {RAFT_MIN_SIZE}; got {h}x{w}")
        flows = self.raft(img1 * 2 - 1, img2 * 2 - 1, num_flow_updates=self.updates)  # RAFT wants [-1, 1]
        return FlowOutput([flows[-1]], flows[-1])  # (B, 2, H, W) px


def raft_weights_file(weights: str = "") -> Path:
    """``weights`` when given, else where torchvision's weights API caches RAFT-small (C_T_V2)."""
    from torchvision.models.optical_flow import Raft_Small_Weights

    if weights:
        return Path(weights)
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(Raft_Small_Weights.C_T_V2.url).name


def raft_weights_help(path: Path) -> str:
    """One line: the missing file, how to fetch it with internet and where to copy it."""
    return (
        f"RAFT-small weights not found at {path} (supflow on real data needs them; a random RAFT would make the "
        f"supervised-flow baseline meaningless). On a machine with internet run "
        'python -c "from torchvision.models.optical_flow import raft_small, Raft_Small_Weights; '
        'raft_small(weights=Raft_Small_Weights.C_T_V2)" '
        f"and copy ~/.cache/torch/hub/checkpoints/{path.name} to {path.parent}/ (or to $TORCH_HOME/hub/checkpoints/), "
        "or pass --flow-weights PATH."
    )


def load_raft_small(weights: str = "") -> RaftEstimator:
    """RAFT-small with pretrained weights from ``weights`` (a state-dict path) or the torchvision cache.

    Raises FileNotFoundError with download instructions when no weights are found: a random RAFT
    would silently make the "supervised flow" baseline meaningless.
    """
    from torchvision.models.optical_flow import raft_small

    path = raft_weights_file(weights)
    if not path.is_file():
        raise MissingWeightsError(raft_weights_help(path))
    net = raft_small(weights=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return RaftEstimator(net).eval()
