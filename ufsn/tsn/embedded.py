"""Temporal stream with an embedded flow estimator (UF-TSN): RGB snippets -> flow -> TV-L1 code -> ResNet.

The estimator's flow is mapped onto the TV-L1 JPEG code by the same linear map as
``pipeline.storage.flowcode`` (clip to +-bound, scale to 0..255) but without rounding, so classification
gradients reach the estimator, and the same input normalisation follows; hence a temporal
classifier trained on precomputed TV-L1 can start the UF-TSN one and vice versa.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from pipeline.api import DEFAULT_BOUND, code_to_input
from ufsn.flow.net import FlowNet, FlowOutput
from ufsn.tsn.streams import TSNStream, segment_consensus


def flow_to_code(flow: torch.Tensor, bound: float = DEFAULT_BOUND) -> torch.Tensor:
    """Continuous TV-L1 code (no rounding) of flow in pixels; differentiable inside the bound."""
    return (flow.clamp(-bound, bound) + bound) * (255.0 / (2.0 * bound))


def stack_flow(flow: torch.Tensor) -> torch.Tensor:
    """(N, L, 2, H, W) -> (N, 2L, H, W) as TSN stacks x and y of each pair: x1, y1, x2, y2, ..."""
    return flow.flatten(1, 2)


def distinct_pairs(img1: torch.Tensor, img2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The distinct (img1, img2) pairs of a batch and where each input pair is among them.

    TSN's test snippets overlap: 5 snippets of 5 pairs at the 3 start offsets of an 8-frame clip hold
    7 distinct pairs out of 25, so an estimator run on the distinct pairs does 3.6x less work.

    Args:
        img1, img2: (P, 3, H, W) first and second frames.
    Returns:
        (D, 3, H, W), (D, 3, H, W) the distinct pairs and (P,) int64 ``index`` with ``pair[i] == distinct[index[i]]``.
    """
    p = img1.shape[0]
    keys = torch.cat([img1.reshape(p, -1), img2.reshape(p, -1)], dim=1)  # (P, 2*3*H*W)
    distinct, index = torch.unique(keys, dim=0, return_inverse=True)  # (D, 2*3*H*W), (P,)
    first, second = distinct.view(-1, 2, *img1.shape[1:]).unbind(1)  # (D, 3, H, W) each
    return first, second, index


class EmbeddedForward(NamedTuple):
    scores: torch.Tensor  # (B, classes) after segment consensus
    img1: torch.Tensor  # (N*L, 3, H, W) first frames of every pair, RGB in [0, 1]
    img2: torch.Tensor  # (N*L, 3, H, W) second frames
    flow: FlowOutput  # the estimator's output on those pairs


class EmbeddedFlowStream(nn.Module):
    """``forward`` takes (B, K, L+1, 3, H, W) RGB in [0, 1] and returns (B, classes)."""

    def __init__(self, estimator: FlowNet, classifier: TSNStream, bound: float = DEFAULT_BOUND):
        super().__init__()
        self.estimator = estimator
        self.classifier = classifier
        self.bound = bound

    def forward_embedded(self, x: torch.Tensor) -> EmbeddedForward:
        """Scores plus the pairs and flows, for the unsupervised loss of stage 3."""
        b, k, t = x.shape[:3]
        frames = x.flatten(0, 1)  # (N, L+1, 3, H, W), N = B*K
        img1 = frames[:, :-1].flatten(0, 1)  # (N*L, 3, H, W)
        img2 = frames[:, 1:].flatten(0, 1)  # (N*L, 3, H, W)
        # A frozen estimator (stage 2, supflow, testing) runs without autograd, once per distinct pair.
        trainable = torch.is_grad_enabled() and any(p.requires_grad for p in self.estimator.parameters())
        if trainable:
            out = self.estimator(img1, img2)
        else:
            with torch.no_grad():
                out = self._estimate_distinct(img1, img2)
        flow = out.full.view(b * k, t - 1, 2, *x.shape[-2:])  # (N, L, 2, H, W)
        inputs = code_to_input(flow_to_code(flow, self.bound))  # (N, L, 2, H, W) in [-1, 1]
        logits = self.classifier.forward_head(self.classifier.forward_features(stack_flow(inputs)))  # (N, classes)
        return EmbeddedForward(segment_consensus(logits.view(b, k, -1)), img1, img2, out)

    def forward(self, x: torch.Tensor, with_flow: bool = False) -> torch.Tensor | EmbeddedForward:
        """(B, classes) scores; with ``with_flow`` the whole EmbeddedForward (stage 3's unsupervised term).

        Stage 3 asks ``forward`` itself for the pairs and flows, not :meth:`forward_embedded`: a DDP wrapper
        all-reduces the gradients of what ran through its forward only.
        """
        out = self.forward_embedded(x)
        return out if with_flow else out.scores

    def _estimate_distinct(self, img1: torch.Tensor, img2: torch.Tensor) -> FlowOutput:
        """The estimator's output on (P, 3, H, W) pairs, computed on the distinct ones (each pair's flow
        depends on that pair alone: FlowNet normalises features per pair and has no batch statistics)."""
        first, second, index = distinct_pairs(img1, img2)
        out = self.estimator(first, second)
        return FlowOutput([f[index] for f in out.flows], out.full[index])

    def freeze_estimator(self, frozen: bool = True) -> EmbeddedFlowStream:
        """Stage 2 / supflow: the estimator's weights stay fixed; stage 3 unfreezes them."""
        self.estimator.requires_grad_(not frozen)
        return self
