"""torchvision ResNet backbones with ImageNet weights when available, and TSN's cross-modality init."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


class Backbone(NamedTuple):
    """A ResNet without its classifier and where its weights came from."""

    net: nn.Module  # fc replaced by Identity: (N, C, H, W) -> (N, F)
    features: int  # F
    weights: str  # "imagenet" | "random" | a path


def _imagenet_weights(arch: str):
    from torchvision import models

    enum = {
        "resnet18": models.ResNet18_Weights,
        "resnet34": models.ResNet34_Weights,
        "resnet50": models.ResNet50_Weights,
        "resnet101": models.ResNet101_Weights,
        "resnet152": models.ResNet152_Weights,
    }[arch]
    return enum.IMAGENET1K_V1


def _cached_imagenet_state(arch: str) -> dict | None:
    """ImageNet weights from the torch hub cache (``$TORCH_HOME``), or None when not cached.

    Nothing is downloaded here: clusters often have no internet on compute nodes. Fetch them once
    with ``python -c "import torchvision; torchvision.models.<arch>(weights='IMAGENET1K_V1')"``.
    """
    weights = _imagenet_weights(arch)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.exists():
        return None
    return torch.load(cached, map_location="cpu", weights_only=True)


def build_backbone(arch: str, weights: str = "imagenet") -> Backbone:
    """ResNet ``arch`` with ``weights`` = "imagenet" (if cached, else random), "random", or a path.

    A path must hold a state dict (torchvision names) saved with ``torch.save``; it is loaded with
    ``weights_only=True``. The returned ``weights`` field says what was really used.
    """
    from torchvision import models

    if arch not in ARCHS:
        raise ValueError(f"unknown backbone {arch!r}; valid: {', '.join(ARCHS)}")
    net = getattr(models, arch)(weights=None)
    used = "random"
    if weights == "imagenet":
        state = _cached_imagenet_state(arch)
        if state is not None:
            net.load_state_dict(state)
            used = "imagenet"
    elif weights != "random":
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = net.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise ValueError(f"{path}: not a {arch} state dict ({str(exc).splitlines()[1].strip()})") from exc
        if unexpected or [k for k in missing if not k.startswith("fc.")]:
            raise ValueError(f"{path}: not a {arch} state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
        used = str(path)
    features = net.fc.in_features
    net.fc = nn.Identity()
    return Backbone(net=net, features=features, weights=used)


def _conv_like(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A fresh conv with ``conv``'s geometry and outputs, taking ``in_channels`` inputs."""
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    )


def cross_modality_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """TSN's cross-modality init: a conv for ``in_channels`` inputs whose kernels are the mean of
    the RGB kernels over the input channels, repeated (so a pretrained RGB net starts a flow net)."""
    new = _conv_like(conv, in_channels)
    with torch.no_grad():
        mean = conv.weight.mean(dim=1, keepdim=True)  # (O, 1, k, k)
        new.weight.copy_(mean.expand(-1, in_channels, -1, -1))  # (O, in_channels, k, k)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def random_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A conv like ``conv`` for ``in_channels`` inputs, with torchvision's ResNet init (He, fan-out)."""
    new = _conv_like(conv, in_channels)
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new
