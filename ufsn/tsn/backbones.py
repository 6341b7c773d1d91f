"""torchvision ResNet backbones with ImageNet weights when available, and TSN's cross-modality init."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import torch
from torch import nn

from ufsn.errors import ConfigError, MissingWeightsError, WeightsError

Arch = Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]  # torchvision ResNets
ARCHS: tuple[str, ...] = get_args(Arch)


class Backbone(NamedTuple):
    """A ResNet without its classifier and where its weights came from."""

    net: nn.Module  # fc replaced by Identity: (N, C, H, W) -> (N, F)
    features: int  # F
    weights: str  # "random" or "<file> sha256:<hex>" (the file that was loaded)


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


def imagenet_cache_file(arch: str) -> Path:
    """Where torchvision's weights API keeps ``arch``'s ImageNet weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_imagenet_weights(arch).url).name


def imagenet_weights_help(arch: str, what: str = "the backbone") -> str:
    """One paragraph: which file is missing, how to fetch it with internet, where to copy it, the alternatives."""
    cached = imagenet_cache_file(arch)
    return (
        f"{what} asks for ImageNet weights of {arch}, but {cached} does not exist (nothing is downloaded during "
        f"training). On a machine with internet run "
        f"python -c \"import torchvision; torchvision.models.{arch}(weights='IMAGENET1K_V1')\" and copy "
        f"~/.cache/torch/hub/checkpoints/{cached.name} to {cached.parent}/ on this machine (or point $TORCH_HOME "
        f"at a folder holding hub/checkpoints/{cached.name}); or pass --weights PATH; or train from random init "
        f"on purpose with --set spatial.model.weights=random / --set temporal.model.weights=random."
    )


def resolve_weights(arch: str, weights: str, what: str = "the backbone") -> Path | None:
    """The state-dict file ``weights`` names ("imagenet": the torchvision cache; a path), None for "random".

    Raises MissingWeightsError (naming the file and how to get it) when the file is absent, so a
    config that asks for pretrained weights never silently trains from random init.
    """
    if arch not in ARCHS:
        raise ConfigError(f"unknown backbone {arch!r}; valid: {', '.join(ARCHS)}")
    if weights == "random":
        return None
    if weights == "imagenet":
        cached = imagenet_cache_file(arch)
        if not cached.is_file():
            raise MissingWeightsError(imagenet_weights_help(arch, what))
        return cached
    path = Path(weights)
    if not path.is_file():
        raise MissingWeightsError(f"{what}: backbone weights not found: {path}")
    return path


@functools.cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_weights(path: Path | None) -> str:
    """``random``, or ``<path> sha256:<hex>`` (what a run record's ``weights`` field holds)."""
    if path is None:
        return "random"
    stat = Path(path).stat()
    return f"{Path(path).resolve()} sha256:{_sha256(Path(path).resolve(), stat.st_size, stat.st_mtime_ns)}"


def build_backbone(arch: str, weights: str = "imagenet", what: str = "the backbone") -> Backbone:
    """ResNet ``arch`` with ``weights`` = "imagenet" (the torchvision cache), "random", or a state-dict path.

    A path must hold a state dict (torchvision names) saved with ``torch.save``; it is loaded with
    ``weights_only=True``. Missing files raise MissingWeightsError (see ``resolve_weights``). The
    returned ``weights`` field is ``random`` or the file with its SHA-256.
    """
    from torchvision import models

    path = resolve_weights(arch, weights, what)
    net = getattr(models, arch)(weights=None)
    if path is not None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = net.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise WeightsError(f"{path}: not a {arch} state dict ({str(exc).splitlines()[1].strip()})") from exc
        if unexpected or [k for k in missing if not k.startswith("fc.")]:
            raise WeightsError(f"{path}: not a {arch} state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
    features = net.fc.in_features
    net.fc = nn.Identity()
    return Backbone(net=net, features=features, weights=describe_weights(path))


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
