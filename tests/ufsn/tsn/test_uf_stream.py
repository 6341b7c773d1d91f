"""The embedded-flow temporal stream: TV-L1 code mapping, stacking order, gradients to the estimator."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.storage.flowcode import code_to_input, quantize_flow
from ufsn.flow.net import FlowNet, FlowNetConfig
from ufsn.tsn.embedded import EmbeddedFlowStream, distinct_pairs, flow_to_code, stack_flow
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


def test_distinct_pairs_hand_worked():
    frames = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)  # four constant frames 0, 1, 2, 3
    img1, img2 = frames[[0, 1, 0, 2, 1]], frames[[1, 2, 1, 3, 2]]  # pairs 0-1, 1-2, 0-1, 2-3, 1-2
    first, second, index = distinct_pairs(img1, img2)
    assert first.shape == (3, 3, 2, 2) and second.shape == (3, 3, 2, 2)
    assert torch.equal(first[index], img1) and torch.equal(second[index], img2)
    assert index[0] == index[2] and index[1] == index[4] and len(set(index.tolist())) == 3


def test_frozen_estimator_runs_once_per_distinct_pair_with_unchanged_scores():
    torch.manual_seed(0)
    estimator = FlowNet(FlowNetConfig(channels=(8, 12, 16), decoder_widths=(16, 8), context=False))
    with torch.no_grad():
        for p in estimator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    classifier = TSNStream(StreamConfig(in_channels=4, num_classes=5, weights="random", dropout=0.0, partial_bn=False))
    stream = EmbeddedFlowStream(estimator, classifier, bound=20.0).freeze_estimator().eval()
    video = torch.rand(4, 3, 32, 32)  # (T, 3, H, W): one 4-frame test clip
    x = torch.stack([video[[0, 1, 2]], video[[1, 2, 3]], video[[0, 1, 2]]])[None]  # (1, K=3, L+1=3, ...)
    seen = []
    estimator.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    with torch.no_grad():
        scores = stream(x)
        img1, img2 = x[0, :, :-1].flatten(0, 1), x[0, :, 1:].flatten(0, 1)  # the 6 pairs, 3 distinct
        flow = estimator(img1, img2).full.view(3, 2, 2, 32, 32)  # every pair on its own
        codes = code_to_input(flow_to_code(flow, 20.0))
        expected = classifier.forward_head(classifier.forward_features(stack_flow(codes))).mean(0, keepdim=True)
    assert seen[0] == 3  # the estimator saw pairs 0-1, 1-2, 2-3 once each
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-5)
