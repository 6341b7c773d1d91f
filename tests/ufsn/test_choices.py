"""Typed choices: a Literal field holding another value is refused when the dataclass is built."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

import pytest

from bench.experiment import InputConfig, UFConfig
from bench.method_models import METHODS
from ufsn.choices import check_choices, literal_values
from ufsn.errors import ConfigError
from ufsn.flow.loss_floor import LossFloorConfig
from ufsn.flow.variants import VARIANTS, Variant
from ufsn.tsn.data import ClipConfig
from ufsn.tsn.streams import StreamConfig
from ufsn.tsn.train import OptimConfig


@dataclass(frozen=True)
class _Toy:
    mode: Literal["a", "b"] = "a"
    level: Literal[1, 2] | None = None
    free: str = "anything"

    def __post_init__(self) -> None:
        check_choices(self)


def test_literal_values_of_plain_optional_and_other_annotations():
    assert literal_values(Literal["a", "b"]) == ("a", "b")
    assert literal_values(Literal[1, 2] | None) == (1, 2, None)
    assert literal_values(str) is None and literal_values(int | None) is None


def test_a_value_outside_the_choices_is_refused_with_the_valid_values():
    assert _Toy(mode="b", level=2).mode == "b" and _Toy().level is None
    with pytest.raises(ConfigError, match=r"_Toy.mode = 'c'; valid values: 'a', 'b'$"):
        _Toy(mode="c")
    with pytest.raises(ConfigError, match=r"_Toy.level = 3; valid values: 1, 2, None$"):
        _Toy(level=3)


@pytest.mark.parametrize(
    ("config", "field", "typo"),
    [
        (InputConfig(), "test_crops", "tne"),  # was read as == "ten": a typo meant centre crops
        (InputConfig(), "source", "shard"),
        (UFConfig(), "supervised_flow", "raft"),
        (ClipConfig(), "modality", "depth"),
        (ClipConfig(), "test_crops", 5),
        (StreamConfig(), "stem", "tiny"),
        (StreamConfig(), "arch", "resnet19"),
        (OptimConfig(), "optimizer", "lbfgs"),
        (LossFloorConfig(), "init", "random"),
        (METHODS["ufsn"], "flow_source", "unsupervized"),
        (METHODS["rgb"], "stream", "spatail"),
    ],
)
def test_project_configs_refuse_values_outside_their_choices(config, field, typo):
    with pytest.raises(ConfigError, match=f"{type(config).__name__}.{field} = {typo!r}; valid values: "):
        replace(config, **{field: typo})


def test_the_variants_table_and_the_variant_type_list_the_same_variants():
    assert tuple(VARIANTS) == get_args(Variant)
    assert [name for name, spec in VARIANTS.items() if spec.supervised] == ["oracle"]
