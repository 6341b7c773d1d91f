"""What a method reads from a dataset folder, checked before any training starts.

Each check raises ``MissingInputError`` with one line that names the missing file (or the split file and
subset) and the command that makes it, so a mistyped root or an unfinished data step costs
seconds, not a training run that dies at evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.steps.splits import SUBSETS, SplitRow, read_split
from pipeline.storage.paths import DatasetPaths
from ufsn.errors import MissingInputError


def _data_command(root: Path, dataset: str, step: str = "all") -> str:
    return f"ufsn-data {step} --root {root} --dataset {dataset}"


def require_dataset(root: Path, dataset: str) -> DatasetPaths:
    """The dataset's paths; raises when ``<root>/<dataset>`` is not a folder."""
    paths = DatasetPaths(Path(root), dataset)
    if not paths.base.is_dir():
        found = sorted(p.name for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
        where = f"{root} holds {', '.join(found)}" if found else f"{root} holds no dataset folders"
        raise MissingInputError(
            f"no dataset folder {paths.base} ({where}); put the videos in {paths.videos}/<Class>/ and run "
            f"`{_data_command(root, dataset)}`, or pass the right --root"
        )
    return paths


def require_split(root: Path, dataset: str, split: int, subsets: Sequence[str]) -> list[SplitRow]:
    """The rows of ``subsets`` of split ``split``; raises when the file is missing or holds none of them."""
    paths = require_dataset(root, dataset)
    path = paths.split_csv(split)
    if not path.is_file():
        have = sorted(p.name for p in paths.splits.glob("split*.csv"))
        raise MissingInputError(
            f"no split file {path} ({'found ' + ', '.join(have) if have else 'no split files'}); "
            f"make the splits with `{_data_command(root, dataset, 'splits')}`"
        )
    rows = read_split(path)
    counts = {s: sum(r.subset == s for r in rows) for s in SUBSETS}
    if sum(counts.get(subset, 0) for subset in subsets) == 0:
        listed = ", ".join(f"{s} {n}" for s, n in counts.items())
        raise MissingInputError(
            f"{path} has no {'+'.join(subsets)} clips (clips per subset: {listed}); choose another --split, or "
            f"rebuild the splits with `{_data_command(root, dataset, 'splits')}` once the videos are in place"
        )
    return [r for r in rows if r.subset in subsets]


def resolve_source(root: Path, dataset: str, requested: str) -> str:
    """``shards`` or ``frames`` (``auto``: shards when ``shards/index.csv`` exists); raises when neither exists."""
    paths = require_dataset(root, dataset)
    index = paths.shards / "index.csv"
    if requested == "auto":
        requested = "shards" if index.is_file() else "frames"
    if requested == "shards" and not index.is_file():
        build = _data_command(root, dataset, "shards")
        raise MissingInputError(f"no shard index {index}; build the shards with `{build}`")
    if requested == "frames" and not paths.frames.is_dir():
        raise MissingInputError(
            f"neither {index} nor {paths.frames}/ exists; run `{_data_command(root, dataset)}` "
            f"(extract frames, TV-L1, shards, splits)"
        )
    return requested


def require_clips(root: Path, dataset: str, source: str, rows: Sequence[SplitRow], modality: str, what: str) -> None:
    """Every clip of ``rows`` has ``modality`` ("rgb", "flow" = TV-L1, "flow_gt") in ``source``.

    ``what`` names the rows in the message (e.g. "split1.csv train+val").
    """
    paths = DatasetPaths(Path(root), dataset)
    ids = [r.video_id for r in rows]
    if modality == "flow_gt":
        missing = [v for v in ids if not paths.flow_gt_npz(v).is_file()]
        where, command = paths.flow_gt, "ufsn-data synth (ground-truth flow exists only for the synthetic set)"
    elif source == "shards":
        from pipeline.readers.shard import read_index

        index = {row.video_id: row for row in read_index(paths.shards / "index.csv")}
        if modality == "flow":
            missing = [v for v in ids if v not in index or index[v].flow_pairs == 0]
        else:
            missing = [v for v in ids if v not in index or index[v].frames == 0]
        where, command = paths.shards / "index.csv", _data_command(root, dataset, "shards")
    elif modality == "flow":
        missing = [v for v in ids if not (paths.flow_dir(v) / "flow_x_00001.jpg").is_file()]
        where, command = paths.tvl1, _data_command(root, dataset, "tvl1")
    else:
        missing = [v for v in ids if not (paths.frame_dir(v) / "img_00001.jpg").is_file()]
        where, command = paths.frames, _data_command(root, dataset, "extract")
    if missing:
        kind = {"rgb": "frames", "flow": "TV-L1 flow", "flow_gt": "ground-truth flow"}[modality]
        raise MissingInputError(
            f"{len(missing)} of the {len(ids)} {what} clips have no {kind} in {where} (first: {missing[0]}); "
            f"run `{command}`"
        )


def resolve_pretraining(exp, streams: Sequence[str]):
    """(config, notes): refuse missing pretrained weights of ``streams`` ("spatial", "temporal"); switch
    partial BN off where a backbone starts from random init (frozen statistics of an untrained net make
    activations explode: a random ResNet-152 gave a first-batch loss of 1.7e7), with a note for the record."""
    from dataclasses import replace

    from ufsn.tsn.backbones import resolve_weights

    notes = []
    for stream in streams:
        cfg = getattr(exp, stream)
        path = resolve_weights(cfg.arch, cfg.weights, what=f"[{stream}.model] weights = {cfg.weights!r}")
        if path is None and cfg.partial_bn:
            exp = replace(exp, **{stream: replace(cfg, partial_bn=False)})
            notes.append(f"{stream}.model.partial_bn switched off: the backbone starts from random init")
    return exp, notes


def require_raft_weights(path: str) -> None:
    """Refuse ``supflow`` on real data before training when RAFT-small's weights are not on this machine."""
    from ufsn.flow.supervised import raft_weights_file, raft_weights_help

    file = raft_weights_file(path)
    if not file.is_file():
        raise MissingInputError(raft_weights_help(file))
