"""Self-supervision: crop geometry and flow rescaling by hand, the loss on a known translation, masks and stopped
gradients, when it switches on, and the stage-1 loss it adds in compute_loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ufsn.flow.losses import LossConfig
from ufsn.flow.net import FlowNet, FlowNetConfig
from ufsn.flow.selfsup import SelfSupConfig, crop_box, crop_resize, self_supervised_loss, teacher_target
from ufsn.flow.train import FlowTrainConfig, compute_loss


def test_crop_box_hand_worked():
    assert crop_box(48, 48, 0.125) == (6, 6, 36, 36)
    assert crop_box(64, 96, 0.25) == (16, 24, 32, 48)
    assert crop_box(5, 9, 0.125) == (1, 1, 3, 7)  # at least one pixel cut, at least one kept


def test_teacher_target_rescales_to_the_students_pixels():
    flow = torch.zeros(1, 2, 48, 64)
    flow[:, 0], flow[:, 1] = 2.0, -1.0
    box = crop_box(48, 64, 0.125)  # 36 x 48 region
    target = teacher_target(flow, box, (48, 64))
    assert target.shape == (1, 2, 48, 64)
    assert torch.allclose(target[:, 0], torch.full((1, 48, 64), 2.0 * 64 / 48))
    assert torch.allclose(target[:, 1], torch.full((1, 48, 64), -1.0 * 48 / 36))


def test_loss_is_eps_for_the_true_student_flow_of_a_translation():
    # A texture moving 3 px right: in the cropped-and-resized pair it moves 3 * 48 / 36 = 4 px.
    rng = np.random.default_rng(0)
    big = torch.from_numpy(rng.random((1, 3, 48, 60), dtype=np.float32))
    img1, img2 = big[..., :, 6:54], big[..., :, 3:51]  # content of img1 at x appears in img2 at x + 3
    box = crop_box(48, 48, 0.125)
    s1, s2 = crop_resize(img1, box, (48, 48)), crop_resize(img2, box, (48, 48))
    assert s1.shape == (1, 3, 48, 48) and not torch.equal(s1, s2)
    teacher = torch.zeros(1, 2, 48, 48)
    teacher[:, 0] = 3.0
    true_student = torch.zeros(1, 2, 48, 48)
    true_student[:, 0] = 4.0
    visible = torch.ones(1, 1, 48, 48)
    assert self_supervised_loss(true_student, teacher, visible, box).item() == pytest.approx(0.01, rel=1e-4)
    assert self_supervised_loss(torch.zeros(1, 2, 48, 48), teacher, visible, box).item() == pytest.approx(4.0, rel=1e-4)


def test_only_visible_pixels_count_and_the_teacher_gets_no_gradient():
    box = crop_box(32, 32, 0.125)  # 4 px border: the region is 24 x 24, resized to 32 x 32
    teacher = torch.zeros(1, 2, 32, 32, requires_grad=True)
    student = torch.zeros(1, 2, 32, 32, requires_grad=True)
    visible = torch.ones(1, 1, 32, 32)
    visible[..., :16, :] = 0  # rows 4..15 of the region, its upper half (12 of 24 rows) -> student rows 0..15
    with torch.no_grad():
        student[:, :, :16] = 5.0  # wrong only where the teacher is not trusted
    loss = self_supervised_loss(student, teacher, visible, box)
    assert loss.item() == pytest.approx(0.01, rel=1e-4)
    loss.backward()
    assert teacher.grad is None and student.grad is not None


def test_when_it_is_on():
    cfg = SelfSupConfig(weight=0.3, start=0.5)
    assert not cfg.active("full", 49, 100) and cfg.active("full", 50, 100)
    assert not cfg.active("nms", 99, 100) and not cfg.active("nocv-nms", 99, 100)  # the seed's ablations stay without
    assert not SelfSupConfig().active("full", 99, 100)  # weight 0: off
    assert SelfSupConfig(weight=1.0, variants=("full", "nms")).active("nms", 60, 100)
    with pytest.raises(ValueError, match="border must be in"):
        SelfSupConfig(border=0.5)
    with pytest.raises(ValueError, match="fraction of the steps"):
        SelfSupConfig(start=1.5)


def test_the_stage1_config_reads_a_self_sup_table():
    cfg = FlowTrainConfig.from_dict({"self_sup": {"weight": 0.3, "start": 0.5}}, file="x.toml")
    assert cfg.self_sup == SelfSupConfig(weight=0.3, start=0.5)
    with pytest.raises(ValueError, match=r"x.toml: \[self_sup\]: unknown key 'wieght'"):
        FlowTrainConfig.from_dict({"self_sup": {"wieght": 0.3}}, file="x.toml")


@pytest.mark.parametrize("bidirectional", [True, False])
def test_compute_loss_adds_weight_times_the_term(bidirectional):
    torch.manual_seed(0)
    net = FlowNet(FlowNetConfig(channels=(8, 8, 8), feature_proj=8, decoder_widths=(8,), context=False))
    with torch.no_grad():  # the flow heads start at zero: move every weight so the flows differ
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))  # small flows (0.16 px): the fb check keeps most pixels
    img1, img2 = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    common = dict(steps=10, bidirectional=bidirectional, loss=LossConfig(level_weights=(1.0, 0.5)))
    off = FlowTrainConfig(**common)
    on = FlowTrainConfig(**common, self_sup=SelfSupConfig(weight=0.5, start=0.5))
    base, m_base = compute_loss(net, off, 7, img1, img2, None, None)
    early, m_early = compute_loss(net, on, 4, img1, img2, None, None)  # before the start: the same loss
    late, m_late = compute_loss(net, on, 7, img1, img2, None, None)
    assert early.item() == pytest.approx(base.item(), rel=1e-6) and "selfsup" not in m_early
    assert m_late["selfsup"] > 0.01
    assert late.item() == pytest.approx(base.item() + 0.5 * m_late["selfsup"], rel=1e-5)
    late.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
