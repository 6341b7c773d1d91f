"""TSN streams: a ResNet over K segment snippets with average consensus, and late fusion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ufsn.choices import check_choices
from ufsn.tsn.backbones import Arch, build_backbone, cross_modality_conv, random_conv


@dataclass(frozen=True)
class StreamConfig:
    """One TSN stream (spatial: 3 input channels; temporal: 2L stacked flow channels)."""

    arch: Arch = "resnet18"  # torchvision ResNet
    in_channels: int = 3  # 3 for RGB, 2L for L stacked flow pairs (x, y interleaved per pair)
    num_classes: int = 101
    dropout: float = 0.8  # before the classifier; TSN uses 0.8 (RGB) and 0.7 (flow)
    weights: str = "imagenet"  # "imagenet" (when cached, else random), "random", or a state-dict path
    partial_bn: bool = True  # TSN: freeze every BatchNorm but the first while training
    stem: Literal["imagenet", "small"] = "imagenet"  # imagenet: 7x7/2 conv + max-pool (224 px); small: 3x3/1, no pool

    def __post_init__(self) -> None:
        check_choices(self)


class TSNStream(nn.Module):
    """ResNet over snippets; ``forward`` takes (B, K, C, H, W) and averages K segment scores."""

    def __init__(self, config: StreamConfig):
        super().__init__()
        self.config = config
        backbone = build_backbone(config.arch, config.weights)
        self.weights_used = backbone.weights
        self.backbone = backbone.net
        if config.stem == "small":
            # The CIFAR-style stem keeps small inputs at full resolution into layer1 (a 64 px crop reaches
            # layer4 at 8x8, not 2x2). Its 3x3 kernels have no ImageNet counterpart, so they start random.
            self.backbone.conv1 = small_stem_conv(config.in_channels, self.backbone.conv1.out_channels)
            self.backbone.maxpool = nn.Identity()
        elif config.in_channels != 3:
            if self.weights_used == "random":
                # Cross-modality init averages *trained* RGB kernels. Applied to random kernels it gives
                # every flow channel the same kernel, so conv1 starts out seeing only the sum of the x and
                # y codes of all pairs (up and right motion look alike) and must first break that symmetry.
                self.backbone.conv1 = random_conv(self.backbone.conv1, config.in_channels)
            else:
                self.backbone.conv1 = cross_modality_conv(self.backbone.conv1, config.in_channels)
        if config.partial_bn:  # frozen from construction: DDP registers only the parameters that train
            freeze_bn_after_first(self.backbone)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(backbone.features, config.num_classes)
        nn.init.normal_(self.fc.weight, std=0.001)  # TSN's classifier init
        nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) snippets -> (N, F) pooled features."""
        return self.backbone(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N, classes) snippet scores."""
        return self.fc(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, k = x.shape[:2]
        scores = self.forward_head(self.forward_features(x.flatten(0, 1)))  # (B*K, classes)
        return segment_consensus(scores.view(b, k, -1))  # (B, classes)

    def train(self, mode: bool = True) -> TSNStream:
        super().train(mode)
        if mode and self.config.partial_bn:
            freeze_bn_after_first(self.backbone)
        return self


def small_stem_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 stride-1 conv for 32-64 px inputs, with torchvision's ResNet init (He, fan-out)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    return random_conv(conv, in_channels)


def freeze_bn_after_first(net: nn.Module) -> None:
    """Partial BN (TSN): every BatchNorm but the first keeps its statistics and affine terms fixed."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms[1:]:
        m.eval()
        m.weight.requires_grad_(False)
        m.bias.requires_grad_(False)


def segment_consensus(scores: torch.Tensor) -> torch.Tensor:
    """Average consensus over segments: (B, K, classes) -> (B, classes)."""
    return scores.mean(dim=1)


def late_fusion(spatial: torch.Tensor, temporal: torch.Tensor, temporal_weight: float = 1.5) -> torch.Tensor:
    """Weighted sum of the streams' class scores before softmax, RGB : flow = 1 : ``temporal_weight`` (TSN: 1.5).

    Inputs (B, classes) logits; returns (B, classes) fused scores as a weighted sum of log-softmax
    scores, which ranks classes as the logits' sum does: a product of the streams' probabilities, so a
    class one stream rules out stays out. A sum of probabilities instead lets a confident stream outvote
    the other: on the synthetic validation split, where RGB tells the appearance family and flow the
    motion, it scored 6-16 points lower.
    """
    return spatial.log_softmax(dim=-1) + temporal_weight * temporal.log_softmax(dim=-1)
