"""Training loops: learning, lr schedule, exact resume, non-finite loss, predictions in order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from ufsn.checkpoint import load_checkpoint
from ufsn.errors import ConfigError, NonFiniteLoss
from ufsn.tsn.train import OptimConfig, fit, lr_at, predict


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):  # (B, 4) -> (B, 3)
        return self.fc(x)


def _loader(epoch, n=24, batch=6):
    g = torch.Generator().manual_seed(100 + epoch)  # per-epoch data, as a seeded sampler would give
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    return [
        {"input": x[i : i + batch], "label": y[i : i + batch], "video_id": [f"v{j}" for j in range(i, i + batch)]}
        for i in range(0, n, batch)
    ]


CFG = OptimConfig(epochs=4, lr=0.5, lr_steps=(2,), weight_decay=0.0, clip_grad=0.0)


def _fit(tmp_path, epochs, resume, name="c.pt"):
    torch.manual_seed(0)
    model = _Toy()
    result = fit(
        model, _loader, replace(CFG, epochs=epochs), device=torch.device("cpu"), checkpoint=tmp_path / name,
        resume=resume, meta={"method": "toy"}, progress=False,
    )  # fmt: skip
    return model, result


def test_lr_steps():
    assert [lr_at(CFG, e) for e in range(4)] == pytest.approx([0.5, 0.5, 0.05, 0.05])


def test_learns_and_resumes_exactly(tmp_path):
    full, result = _fit(tmp_path, 4, resume=False, name="full.pt")
    assert result.epochs[-1].loss < result.epochs[0].loss
    _fit(tmp_path, 2, resume=False)  # "killed" after epoch 2 (its checkpoint says epoch 2)
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 2
    resumed, result = _fit(tmp_path, 4, resume=True)
    assert result.resumed_from == 2 and [s.epoch for s in result.epochs] == [2, 3]
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["epoch"] == 4 and state["config"] == {"method": "toy"}


def test_non_finite_loss_stops_with_message(tmp_path):
    def nan_loader(epoch):
        batch = _loader(epoch)[0]
        return [{**batch, "input": batch["input"] * float("nan")}]

    with pytest.raises(NonFiniteLoss, match="epoch 0, batch 0"):
        fit(_Toy(), nan_loader, CFG, device=torch.device("cpu"), checkpoint=tmp_path / "n.pt", resume=False,
            meta={}, progress=False)  # fmt: skip
    assert not (tmp_path / "n.pt").exists()


def test_one_non_finite_loss_for_both_trainers():
    import ufsn.flow.train

    assert ufsn.flow.train.NonFiniteLoss is NonFiniteLoss  # stage 1 and the streams raise the same class


def test_predict_keeps_order():
    model = _Toy()
    scores, labels, ids = predict(model, _loader(0), device=torch.device("cpu"), progress=False)
    x = torch.cat([b["input"] for b in _loader(0)])
    assert np.allclose(scores, model(x).detach().numpy(), atol=1e-6)
    assert ids == [f"v{j}" for j in range(24)] and labels.shape == (24,)


def test_optimizer_choice():
    from ufsn.tsn.train import make_optimizer

    assert isinstance(make_optimizer(_Toy(), replace(CFG, optimizer="adam")), torch.optim.Adam)
    assert isinstance(make_optimizer(_Toy(), CFG), torch.optim.SGD)
    with pytest.raises(ConfigError, match="optimizer = 'lbfgs'; valid values: 'sgd', 'adam'"):
        replace(CFG, optimizer="lbfgs")  # refused when the config is built, before any optimizer


def test_sgd_step_matches_the_momentum_update_by_hand():
    from ufsn.tsn.train import make_optimizer

    layer = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
    opt = make_optimizer(layer, replace(CFG, lr=0.1, momentum=0.9, weight_decay=0.5))
    grads = [torch.tensor([[0.5, 1.0]]), torch.tensor([[-1.0, 2.0]])]
    w, buf = np.array([1.0, -2.0]), None  # by hand: d = g + wd w; buf = d, then 0.9 buf + d; w -= lr buf
    for g in grads:
        layer.weight.grad = g.clone()
        opt.step()
        d = g.numpy()[0] + 0.5 * w
        buf = d if buf is None else 0.9 * buf + d
        w = w - 0.1 * buf
        np.testing.assert_allclose(layer.weight.detach().numpy()[0], w, rtol=1e-6)


def test_estimator_gets_its_own_lr_scale():
    from ufsn.tsn.train import make_optimizer

    class _Embedded(nn.Module):
        def __init__(self):
            super().__init__()
            self.estimator = nn.Linear(3, 3)
            self.head = nn.Linear(3, 2)

    model = _Embedded()
    opt = make_optimizer(model, replace(CFG, estimator_lr_scale=0.01))
    assert sorted(g["lr_scale"] for g in opt.param_groups) == [0.01, 1.0]
    est_group = next(g for g in opt.param_groups if g["params"][0] is model.estimator.weight)
    assert est_group["lr_scale"] == 0.01 and len(est_group["params"]) == 2
    assert len(make_optimizer(_Toy(), CFG).param_groups) == 1  # no estimator: one group
