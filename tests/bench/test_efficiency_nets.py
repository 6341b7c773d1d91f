"""The efficiency table measures the estimators the study trains: the stage-1 config's network, or a trained
run's checkpoint when there is one, named in ``net_from``; ptflops' batch warnings do not reach the user."""

from __future__ import annotations

import shutil

import pandas as pd
from click.testing import CliRunner

from bench.perf.efficiency import UF_VARIANTS, EfficiencyConfig, study_estimators
from bench.stage1 import load_flow_config
from ufsn.flow.net import FlowNet, FlowNetConfig, count_parameters
from ufsn.flow.variants import VARIANTS


def test_every_table_variant_is_a_stage1_variant():
    assert set(UF_VARIANTS.values()) <= set(VARIANTS)


def test_ucf101_estimators_come_from_its_stage1_config():
    specs = study_estimators(EfficiencyConfig(experiment="ucf101"))
    flow_config = load_flow_config("flow_ucf101.toml")
    for (label, variant), spec in zip(UF_VARIANTS.items(), specs, strict=True):
        assert spec.label == label and spec.net_from == "config flow_ucf101.toml"
        assert spec.net == flow_config.__class__(**{**flow_config.__dict__, "variant": variant}).resolved_net()
    full = count_parameters(FlowNet(specs[0].net))
    assert full != count_parameters(FlowNet(FlowNetConfig()))  # not the library defaults
    assert 1.5e6 < full < 1.6e6  # flow_ucf101.toml's channels: 1.56M parameters
    assert specs[1].net.multi_scale is False and specs[2].net.cost_volume is False


def test_a_trained_run_gives_its_checkpoint_network(tiny_root, tmp_path):
    from bench.runs import prepare_run
    from ufsn.flow.losses import LossConfig
    from ufsn.flow.train import FlowTrainConfig, train_flow

    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    folder = prepare_run(root, "synthetic", "flow-nms-split1")
    net = FlowNetConfig(channels=(8, 8, 8), feature_proj=8, decoder_widths=(8,), context=False)
    cfg = FlowTrainConfig(root=str(root), steps=1, batch_size=2, crop=(32, 32), val_pairs=2, variant="nms", net=net,
                          loss=LossConfig(level_weights=(1.0,)))  # fmt: skip
    train_flow(cfg, folder, progress=False)
    specs = study_estimators(EfficiencyConfig(experiment="tiny", root=root, dataset="synthetic"))
    by_label = {s.label: s for s in specs}
    nms = by_label["UF-TSN w/o multi-scale"]
    assert nms.net_from == f"checkpoint {folder / 'checkpoint.pt'}" and nms.net.channels == (8, 8, 8)
    assert by_label["UF-TSN motion stream (flow estimator)"].net_from.startswith("config flow_tiny")


def test_cli_names_the_network_source_and_hides_ptflops_warnings(tmp_path):
    from bench.cli import main

    args = ["efficiency", "--root", str(tmp_path), "--dataset", "ucf101", "--size", "32x32", "--no-raft",
            "--seconds", "0.01", "--threads", "1", "--results", str(tmp_path / "results")]  # fmt: skip
    result = CliRunner(mix_stderr=False).invoke(main, args) if _has_mix_stderr() else CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "No positional inputs" not in result.output and "No positional inputs" not in (result.stderr or "")
    table = pd.read_csv(tmp_path / "results" / "ucf101" / "efficiency.csv")
    uf = table[table["method"].str.startswith("UF-TSN") & (table["status"] == "measured")]
    assert list(uf["net_from"]) == ["config flow_ucf101.toml"] * 3
    assert abs(uf["params_m"].iloc[0] - 1.56) < 0.01


def _has_mix_stderr() -> bool:
    import inspect

    return "mix_stderr" in inspect.signature(CliRunner.__init__).parameters
