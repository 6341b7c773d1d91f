"""The embedded-flow temporal stream: TV-L1 code mapping, stacking order, gradients to the estimator."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.storage.flowcode import code_to_input, quantize_flow
from ufsn.flow.net import FlowNet, FlowNetConfig
from ufsn.tsn.embedded import EmbeddedFlowStream, flow_to_code, stack_flow
from ufsn.tsn.streams import StreamConfig, TSNStream


def test_code_within_half_step_of_tvl1_quantisation():
    flow = torch.from_numpy(np.random.default_rng(0).uniform(-30, 30, size=(4, 2, 16, 16)))
    code = flow_to_code(flow, 20.0).numpy()
    quantised = quantize_flow(flow.numpy(), 20.0).astype(np.float64)
    assert np.abs(code - quantised).max() <= 0.5 + 1e-9
    assert np.abs(code - quantised).max() > 0.4  # really unrounded
    assert float(code_to_input(flow_to_code(torch.zeros(1), 20.0))) == 0.0  # zero motion -> 0


def test_stack_order_is_x1_y1_x2_y2():
    flow = torch.arange(2 * 3 * 2).float().view(2, 3, 2, 1, 1)  # (N, L=3, 2, 1, 1)
    assert stack_flow(flow)[0, :, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]


def test_shapes_and_classification_gradient_reaches_estimator():
    torch.manual_seed(0)
    pairs = 2
    estimator = FlowNet(FlowNetConfig(channels=(8, 12, 16), decoder_widths=(16, 8), context=False))
    with torch.no_grad():  # FlowNet's flow heads start at zero; a stage-1 estimator has moved away from that
        for p in estimator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    classifier = TSNStream(
        StreamConfig(in_channels=2 * pairs, num_classes=5, weights="random", dropout=0.0, partial_bn=False)
    )
    stream = EmbeddedFlowStream(estimator, classifier, bound=20.0)
    x = torch.rand(2, 2, pairs + 1, 3, 32, 32)  # (B, K, L+1, 3, H, W)
    out = stream.forward_embedded(x)
    assert out.scores.shape == (2, 5)
    assert out.img1.shape == (2 * 2 * pairs, 3, 32, 32) and out.flow.full.shape == (8, 2, 32, 32)
    torch.nn.functional.cross_entropy(out.scores, torch.tensor([1, 3])).backward()
    grad = sum(p.grad.norm() ** 2 for p in estimator.parameters() if p.grad is not None) ** 0.5
    assert torch.isfinite(grad) and grad > 0
