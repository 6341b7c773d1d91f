"""Experiment configs: packaged files load, overrides apply, typos are named."""

import pytest

from bench.experiment import experiment_from_dict, load_experiment, to_dict
from ufsn.config_loader import apply_override
from ufsn.errors import ConfigError


@pytest.mark.parametrize("name", ["synthetic", "ucf101", "hmdb51", "tiny"])
def test_packaged_configs_load_and_round_trip_through_a_record(name):
    config = load_experiment(name)
    assert experiment_from_dict(to_dict(config)) == config


def test_paper_settings():
    config = load_experiment("ucf101")
    assert (config.spatial.arch, config.temporal.arch) == ("resnet152", "resnet18")
    assert (config.input.crop, config.input.segments, config.input.test_snippets) == (224, 3, 25)
    assert config.train_subsets == ("train", "val")


def test_overrides_and_errors(tmp_path):
    config = load_experiment("ucf101", ("spatial.model.arch=resnet18", "input.crop=64", "spatial.optim.lr_steps=[1]"))
    assert config.spatial.arch == "resnet18" and config.input.crop == 64 and config.spatial_optim.lr_steps == (1,)
    with pytest.raises(ConfigError, match=r"synthetic.toml: \[input\]: unknown key 'crops'"):
        load_experiment("synthetic", ("input.crops=3",))
    with pytest.raises(ValueError, match="section.key=value"):
        apply_override({}, "input.crop")
    bad = tmp_path / "bad.toml"
    bad.write_text("split = \n")
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


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('dataset="ucf101"', r"synthetic.toml: top level: unknown key 'dataset'"),
        ("temporal.model.in_channels=4", r"synthetic.toml: \[temporal.model\] key 'in_channels' is not a config"),
        ("spatial.model.num_classes=7", r"\[spatial.model\] key 'num_classes' is not a config"),
        ("temporal.model.archh=resnet50", r"synthetic.toml: \[temporal.model\]: unknown key 'archh'"),
        ("spatial.optim.lrr=0.1", r"synthetic.toml: \[spatial.optim\]: unknown key 'lrr'"),
        ("ufsn.stage2.epoch=3", r"synthetic.toml: \[ufsn.stage2\]: unknown key 'epoch'"),
    ],
)
def test_keys_that_would_be_ignored_are_errors_naming_file_section_and_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment("synthetic", (override,))


def test_no_packaged_config_sets_a_derived_key():
    from importlib import resources

    for path in (resources.files("bench") / "configs").iterdir():
        text = path.read_text(encoding="utf-8")
        assert "in_channels" not in text and "\ndataset =" not in text, path.name
