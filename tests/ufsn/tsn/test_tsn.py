"""TSN streams: cross-modality init, shapes, consensus, partial BN, fusion, weights loading."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from torch import nn

from ufsn.errors import ConfigError, MissingWeightsError
from ufsn.tsn.backbones import build_backbone, cross_modality_conv
from ufsn.tsn.streams import StreamConfig, TSNStream, late_fusion, segment_consensus


def test_cross_modality_init_is_mean_of_rgb_kernels_repeated():
    torch.manual_seed(0)
    rgb = nn.Conv2d(3, 4, kernel_size=3, bias=False)
    flow = cross_modality_conv(rgb, 10)
    assert flow.weight.shape == (4, 10, 3, 3)
    w = rgb.weight.detach()
    expected = (w[:, 0] + w[:, 1] + w[:, 2]) / 3  # hand-written mean over RGB
    for c in range(10):
        assert torch.allclose(flow.weight[:, c], expected)
    # A flow stack that repeats one grey image gives 10/3 x the RGB response to that grey image.
    grey = torch.rand(1, 1, 5, 5)
    assert torch.allclose(flow(grey.expand(1, 10, 5, 5)), rgb(grey.expand(1, 3, 5, 5)) * 10 / 3, atol=1e-5)


def test_random_flow_stream_has_independent_channel_kernels(tmp_path):
    """Random init: every flow channel its own kernel (no symmetric sum); trained weights: TSN's init."""
    torch.manual_seed(0)
    random = TSNStream(StreamConfig(in_channels=10, num_classes=5, weights="random")).backbone.conv1.weight
    assert random.shape == (64, 10, 7, 7)
    assert not torch.allclose(random[:, 0], random[:, 1])
    # He fan-out init as torchvision's ResNet: std = sqrt(2 / (64 * 7 * 7))
    assert abs(random.std().item() - (2 / (64 * 49)) ** 0.5) < 0.1 * (2 / (64 * 49)) ** 0.5
    rgb = build_backbone("resnet18", "random").net
    path = tmp_path / "rgb.pt"
    torch.save(rgb.state_dict(), path)
    trained = TSNStream(StreamConfig(in_channels=10, num_classes=5, weights=str(path))).backbone.conv1.weight
    expected = rgb.conv1.weight.mean(dim=1)  # (64, 7, 7)
    for c in range(10):
        assert torch.allclose(trained[:, c], expected)


@pytest.mark.parametrize("in_channels", [3, 10])
def test_stream_shapes_backward_and_finite(in_channels):
    torch.manual_seed(0)
    stream = TSNStream(StreamConfig(in_channels=in_channels, num_classes=7, weights="random", partial_bn=False))
    x = torch.randn(2, 3, in_channels, 64, 64)  # (B, K, C, H, W)
    scores = stream(x)
    assert scores.shape == (2, 7)
    scores.logsumexp(-1).sum().backward()
    assert torch.isfinite(stream.backbone.conv1.weight.grad).all()
    assert stream.backbone.conv1.weight.grad.abs().sum() > 0
    assert stream.forward_features(x[:, 0]).shape == (2, 512)
    assert stream.forward_head(torch.zeros(2, 512)).shape == (2, 7)


def test_consensus_is_mean_over_segments():
    scores = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [2.0, 1.0]]])  # (B=1, K=3, classes=2)
    assert segment_consensus(scores).tolist() == [[2.0, 3.0]]


def test_partial_bn_freezes_all_but_first_norm():
    stream = TSNStream(StreamConfig(num_classes=3, weights="random", partial_bn=True))
    frozen = [n for n, p in stream.named_parameters() if not p.requires_grad]
    # Frozen before .train(): DistributedDataParallel, wrapped first, registers only what trains.
    assert len(frozen) == 2 * (sum(isinstance(m, nn.BatchNorm2d) for m in stream.modules()) - 1)
    stream.train()
    norms = [m for m in stream.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms[0].training and norms[0].weight.requires_grad
    assert all(not m.training and not m.weight.requires_grad for m in norms[1:])
    before = norms[1].running_mean.clone()
    stream(torch.randn(2, 1, 3, 32, 32))
    assert torch.equal(norms[1].running_mean, before)


def test_late_fusion_multiplies_the_streams_probabilities():
    # RGB: class 0 or 1, never 2; flow: class 2 (0.9) or 0 (0.1). Probabilities summed with weight 1.5
    # would pick class 2 (1e-4 + 1.35 > 0.5 + 0.15); their weighted product picks class 0.
    p_spatial = torch.tensor([[0.4999, 0.4999, 0.0002]])
    p_temporal = torch.tensor([[0.1, 1e-6, 0.9 - 1e-6]])
    fused = late_fusion(p_spatial.log(), p_temporal.log(), temporal_weight=1.5)
    expected = p_spatial.log() + 1.5 * p_temporal.log()  # (1, 3), log of p_s * p_t^1.5
    assert torch.allclose(fused, expected, atol=1e-5) and fused.argmax().item() == 0
    shifted = late_fusion(p_spatial.log() + 7.0, p_temporal.log() - 3.0, temporal_weight=1.5)
    assert torch.allclose(shifted, fused, atol=1e-5)  # logits are defined up to a constant per stream


def test_evaluate_fuse_is_late_fusion():
    from ufsn.tsn.evaluate import StreamScores, fuse

    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    ids, labels = [f"v{i}" for i in range(4)], np.arange(4)
    fused = fuse(StreamScores(s, labels, ids), StreamScores(t, labels, ids), 1.5)
    np.testing.assert_allclose(fused.scores, late_fusion(torch.from_numpy(s), torch.from_numpy(t), 1.5).numpy())


def test_weights_from_path_and_errors(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(1)
    reference = resnet18(weights=None)
    path = tmp_path / "r18.pt"
    torch.save(reference.state_dict(), path)
    backbone = build_backbone("resnet18", str(path))
    assert backbone.weights == f"{path.resolve()} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    assert torch.equal(backbone.net.conv1.weight, reference.conv1.weight)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        build_backbone("resnet18", str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="not a resnet50"):
        build_backbone("resnet50", str(path))
    with pytest.raises(ValueError, match="valid: resnet18"):
        build_backbone("vgg16", "random")


def test_imagenet_refused_when_not_cached_and_loaded_when_cached(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"  # torchvision's IMAGENET1K_V1 file
    with pytest.raises(MissingWeightsError, match="IMAGENET1K_V1"):
        build_backbone("resnet18", "imagenet")
    torch.manual_seed(2)
    reference = resnet18(weights=None)
    cached.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cached)
    backbone = build_backbone("resnet18", "imagenet")
    assert backbone.weights.startswith(f"{cached.resolve()} sha256:")
    assert torch.equal(backbone.net.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert build_backbone("resnet18", "random").weights == "random"


def test_random_init_switches_partial_bn_off_with_a_note():
    from dataclasses import replace

    from bench.experiment import load_experiment
    from bench.inputs import resolve_pretraining

    exp = load_experiment("tiny")
    exp = replace(exp, spatial=replace(exp.spatial, partial_bn=True), temporal=replace(exp.temporal, partial_bn=True))
    resolved, notes = resolve_pretraining(exp, ["spatial", "temporal"])
    assert not resolved.spatial.partial_bn and not resolved.temporal.partial_bn
    assert notes == [f"{s}.model.partial_bn switched off: the backbone starts from random init"
                     for s in ("spatial", "temporal")]  # fmt: skip
    untouched, none = resolve_pretraining(exp, [])
    assert untouched == exp and none == []


def test_workers_capped_at_the_affinity_mask():
    import os

    from ufsn.workers import capped_workers, worker_cap_note

    cpus = len(os.sched_getaffinity(0))
    assert capped_workers(cpus + 6) == cpus and capped_workers(1) == 1 and capped_workers(0) == 0
    assert worker_cap_note(1) is None
    assert worker_cap_note(cpus + 6) == (
        f"input.workers {cpus + 6} capped at {cpus}: this process may use {cpus} CPUs (sched_getaffinity)"
    )


def test_small_stem_keeps_resolution_into_layer1():
    torch.manual_seed(0)
    stream = TSNStream(StreamConfig(in_channels=6, num_classes=4, weights="random", stem="small"))
    conv = stream.backbone.conv1
    assert (conv.kernel_size, conv.stride, conv.in_channels) == ((3, 3), (1, 1), 6)
    assert isinstance(stream.backbone.maxpool, nn.Identity)
    x = torch.randn(2, 3, 6, 32, 32)  # (B, K, 2L, H, W)
    seen = {}
    for name in ("layer1", "layer4"):
        getattr(stream.backbone, name).register_forward_hook(lambda m, i, o, name=name: seen.update({name: o.shape}))
    out = stream(x)
    assert out.shape == (2, 4)
    assert seen["layer1"][-2:] == (32, 32) and seen["layer4"][-2:] == (4, 4)  # the ImageNet stem gives 8x8 and 1x1
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in stream.parameters() if p.grad is not None)


def test_unknown_stem_lists_valid_ones():
    with pytest.raises(ConfigError, match="stem = 'tiny'; valid values: 'imagenet', 'small'"):
        StreamConfig(num_classes=2, weights="random", stem="tiny")  # refused when built, before any network
