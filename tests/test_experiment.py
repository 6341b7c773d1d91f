"""Experiment configs: packaged files load, overrides apply, typos are named."""

import pytest

from bench.experiment import load_experiment, set_override


@pytest.mark.parametrize("name", ["synthetic", "ucf101", "hmdb51"])
def test_packaged_configs_load(name):
    config = load_experiment(name)
    assert config.dataset == name
    assert config.temporal.in_channels == 2 * config.input.flow_pairs


def test_paper_settings():
    config = load_experiment("ucf101")
    assert (config.spatial.arch, config.temporal.arch) == ("resnet152", "resnet18")
    assert (config.input.crop, config.input.segments, config.input.test_snippets) == (224, 3, 25)
    assert config.train_subsets == ("train", "val")


def test_overrides_and_errors(tmp_path):
    config = load_experiment("ucf101", ("spatial.model.arch=resnet18", "input.crop=64", "spatial.optim.lr_steps=[1]"))
    assert config.spatial.arch == "resnet18" and config.input.crop == 64 and config.spatial_optim.lr_steps == (1,)
    with pytest.raises(ValueError, match=r"synthetic.toml.input: unknown key\(s\) crops"):
        load_experiment("synthetic", ("input.crops=3",))
    with pytest.raises(ValueError, match="section.key=value"):
        set_override({}, "input.crop")
    bad = tmp_path / "bad.toml"
    bad.write_text("dataset = \n")
    with pytest.raises(ValueError, match="bad.toml"):
        load_experiment(str(bad))
    with pytest.raises(FileNotFoundError, match="nope"):
        load_experiment("nope")


@pytest.mark.parametrize("name", ["synthetic", "ucf101", "hmdb51", "tiny"])
def test_stage1_config_named_by_each_experiment_loads(name):
    from bench.stage1 import load_flow_config

    flow = load_flow_config(load_experiment(name).ufsn.flow_config)
    assert flow.net.output_level >= 1 and len(flow.net.channels) >= flow.net.output_level
    assert 0 < flow.lr < 1e-2 and flow.steps > 0


def test_stream_key_outside_model_or_optim_is_an_error():
    with pytest.raises(ValueError, match=r"synthetic.toml: \[temporal\] has only .* found temporal.stem"):
        load_experiment("synthetic", ("temporal.stem=imagenet",))


def test_val_protocol_overrides_and_their_check():
    exp = load_experiment("synthetic", ("test_subset=val", 'train_subsets=["train"]'))
    assert (exp.test_subset, exp.train_subsets) == ("val", ("train",))
    with pytest.raises(ValueError, match="also trained on"):
        load_experiment("synthetic", ("test_subset=val",))
