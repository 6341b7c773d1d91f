"""FlowNet: shapes, backward and NaN checks for every config switch; default size is reported."""

import pytest
import torch
import torch.nn.functional as F

from ufsn.errors import ConfigError
from ufsn.flow.net import FlowNet, FlowNetConfig, GuidedUpsampler, count_parameters

SWITCHES = {
    "default": FlowNetConfig(),
    "nms": FlowNetConfig(multi_scale=False),
    "nocv-nms": FlowNetConfig(cost_volume=False, multi_scale=False),
    "nocv": FlowNetConfig(cost_volume=False),
    "per-level-decoders": FlowNetConfig(shared_decoder=False),
    "no-context": FlowNetConfig(context=False),
    "r2-out3": FlowNetConfig(max_displacement=2, output_level=3),
    "guided-upsampling": FlowNetConfig(upsample="guided", output_level=1),
}


@pytest.mark.parametrize("name", list(SWITCHES))
def test_shapes_and_backward(name):
    cfg = SWITCHES[name]
    torch.manual_seed(0)
    net = FlowNet(cfg)
    with torch.no_grad():  # the flow heads start at zero, which makes every gradient 0; a trained net has moved
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    img1, img2 = torch.rand(2, 3, 64, 80), torch.rand(2, 3, 64, 80)
    out = net(img1, img2)
    assert len(out.flows) == len(cfg.decode_levels)
    for flow, level in zip(out.flows, cfg.decode_levels, strict=True):
        size = -(-64 // 2**level), -(-80 // 2**level)  # each stride-2 conv (pad 1) rounds up
        assert flow.shape == (2, 2, *size)
    assert out.full.shape == (2, 2, 64, 80)
    (out.full.abs().mean() + sum(f.abs().mean() for f in out.flows)).backward()
    grads = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
    assert grads and all(torch.isfinite(g).all() for g in grads.values())
    # A check that cannot fail is no check: every parameter that takes part must get a non-zero gradient.
    assert [n for n, g in grads.items() if not g.abs().sum() > 0] == []


def test_default_is_four_level_quarter_resolution():
    cfg = FlowNetConfig()
    assert cfg.decode_levels == [5, 4, 3, 2] and cfg.max_displacement == 4
    assert 0.3e6 < count_parameters(FlowNet(cfg)) < 5.7e6  # lighter than the seed's 5.7M


def test_configs_that_still_carry_vectorised_corr_load():
    from dataclasses import asdict

    from ufsn.flow.net import flownet_config
    from ufsn.flow.train import FlowTrainConfig

    # Checkpoints (net_config), run records (flow_net, config.net) and TOML [net] tables written before the cost
    # volume picked its own kernel carry the retired switch; it never changed the numbers, so it is dropped.
    net = FlowNetConfig(channels=(8, 12), output_level=1)
    stored = {**asdict(net), "vectorised_corr": True}
    assert flownet_config(stored, file="old checkpoint") == net
    train = FlowTrainConfig(net=net)
    assert FlowTrainConfig.from_dict({**train.to_dict(), "net": stored}, file="old record.json") == train
    assert "vectorised_corr" not in asdict(net)
    with pytest.raises(ValueError, match="unknown key 'vectorized_corr'"):  # any other unknown key still fails
        flownet_config({**asdict(net), "vectorized_corr": True}, file="typo.toml")


def test_odd_input_size_and_bad_level():
    out = FlowNet(FlowNetConfig())(torch.rand(1, 3, 50, 70), torch.rand(1, 3, 50, 70))
    assert out.full.shape == (1, 2, 50, 70)
    with pytest.raises(ValueError, match="output_level"):
        FlowNetConfig(output_level=9)
    with pytest.raises(ConfigError, match="upsample = 'nearest'; valid values: 'bilinear', 'guided'"):
        FlowNetConfig(upsample="nearest")


def test_guided_upsampling_starts_as_bilinear():
    up = GuidedUpsampler(8)
    up.zero_head()
    coarse, guide = torch.randn(2, 2, 5, 7), torch.randn(2, 8, 10, 14)
    reference = F.interpolate(coarse * 2, size=(10, 14), mode="bilinear", align_corners=False)  # x2 size and value
    assert torch.allclose(up(guide, coarse), reference, atol=5e-3)  # the zero-weight taps keep 1e-4 each


def test_guided_upsampling_can_copy_one_side_of_an_edge():
    # Coarse flow 0 | 3 across a vertical edge between coarse columns 1 and 2. Bilinear blends the two at
    # fine columns 3 and 4; weights that pick the parent's own vector (tap 4 of 9) keep the edge sharp.
    up = GuidedUpsampler(8)
    up.zero_head()
    with torch.no_grad():
        up.mask[-1].bias[4] = 50.0  # every fine pixel takes its parent's vector
    coarse = torch.zeros(1, 2, 4, 4)
    coarse[:, 0, :, 2:] = 3.0
    fine = up(torch.randn(1, 8, 8, 8), coarse)  # (1, 2, 8, 8)
    assert torch.allclose(fine[0, 0, :, :4], torch.zeros(8, 4), atol=1e-6)
    assert torch.allclose(fine[0, 0, :, 4:], torch.full((8, 4), 6.0), atol=1e-6)  # x2 value at the finer level
    bilinear = F.interpolate(coarse * 2, size=(8, 8), mode="bilinear", align_corners=False)
    assert bilinear[0, 0, 0, 3] == pytest.approx(1.5) and bilinear[0, 0, 0, 4] == pytest.approx(4.5)
