"""The study: make sure the runs a table needs exist (train what is missing), then tabulate them.

Tables regenerate from run records alone (``train=False``), so a changed table never retrains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.runs import CHECKPOINT, RunRecord, list_runs, run_dir, update_record
from bench.tables import Measured
from ufsn.flow.variants import VARIANTS

COMPARE_METHODS = ("rgb", "tvl1", "supflow", "ufsn")
ABLATION_METHODS = ("tvl1", "supflow", "ufsn-nocv-nms", "ufsn-nms", "ufsn")
# The ceiling of every flow source under the same classifier, on datasets with exact flow (synthetic).
GROUND_TRUTH_METHOD = "gtflow"


@dataclass(frozen=True)
class StudyOptions:
    """Options shared by ``compare``, ``ablations``, ``figures`` and ``all``."""

    root: Path
    datasets: tuple[str, ...]
    splits: tuple[int, ...] = (1, 2, 3)  # papers report the mean over the three official splits
    results: Path = Path("results")
    train: bool = True  # False (--no-train): tabulate what the run store holds
    config: str | None = None  # experiment config (default: the dataset's name)
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    progress: bool = True


def ensure_runs(opts: StudyOptions, methods: tuple[str, ...]) -> list[str]:
    """Train every (dataset, split, method) without a record; half-finished runs resume. Returns run names made."""
    from bench.train_method import TrainOptions, train_method

    made = []
    for dataset in opts.datasets:
        for split in opts.splits:
            for method in methods:
                folder = run_dir(opts.root, dataset, f"{method}-split{split}")
                if (folder / "record.json").is_file() or not opts.train:
                    continue
                options = TrainOptions(root=opts.root, dataset=dataset, method=method, split=split,
                                       config=opts.config or dataset, overrides=opts.overrides,
                                       resume=folder.exists(), device=opts.device, progress=opts.progress)  # fmt: skip
                train_method(options)
                made.append(folder.name)
    return made


def missing_runs(opts: StudyOptions, methods: tuple[str, ...]) -> list[tuple[str, str]]:
    """(dataset, run name) of every study run of ``methods`` without a record (what ``--no-train`` leaves out)."""
    return [
        (dataset, f"{method}-split{split}")
        for dataset in opts.datasets
        for split in opts.splits
        for method in methods
        if not (run_dir(opts.root, dataset, f"{method}-split{split}") / "record.json").is_file()
    ]


def require_some_runs(opts: StudyOptions, methods: tuple[str, ...]) -> list[str]:
    """Under ``--no-train``: raise MissingInputError when a dataset has none of the runs a table needs; else return
    one line per missing run (left out of the table) with the command that makes it."""
    from bench.inputs import require_dataset
    from ufsn.errors import MissingInputError

    missing = missing_runs(opts, methods)
    lines = []
    for dataset in opts.datasets:
        paths = require_dataset(opts.root, dataset)
        names = [name for d, name in missing if d == dataset]
        if len(names) == len(methods) * len(opts.splits):
            raise MissingInputError(
                f"no run records in {paths.runs} for {', '.join(names)}; train them with "
                f"`ufsn-bench compare --root {opts.root} --dataset {dataset} --splits "
                f"{','.join(map(str, opts.splits))}` (without --no-train)"
            )
        for name in names:
            method, split = name.rsplit("-split", 1)
            resume = " --resume" if run_dir(opts.root, dataset, name).exists() else ""
            command = f"ufsn-bench train --root {opts.root} --dataset {dataset} --method {method} --split {split}"
            lines.append(f"not in the table: {paths.runs / name} has no record.json; make it with `{command}{resume}`")
    return lines


def has_ground_truth(root: Path, dataset: str) -> bool:
    """True for datasets with exact flow (``flow_gt/``: the synthetic set): EPEs and the gtflow row exist there."""
    from pipeline.storage.paths import DatasetPaths

    return DatasetPaths(root, dataset).flow_gt.is_dir()


def ensure_flow_eval(opts: StudyOptions, max_pairs: int = 400) -> None:
    """EPE on the test split of every stage-1 run that lacks it (datasets with ground truth only)."""
    from bench.differences import pair_errors_name, save_pair_errors
    from ufsn.distributed import pick_device
    from ufsn.flow.evaluate import FlowEvalConfig, flow_metrics, reference_rows, split_pairs, uf_row
    from ufsn.flow.train import load_estimator

    for dataset in filter(lambda d: has_ground_truth(opts.root, d), opts.datasets):
        cfg = FlowEvalConfig(dataset=dataset, max_pairs=max_pairs, with_speed=False)
        for split in opts.splits:
            key = f"split{split}_test"
            pairs = references = None
            reference_sums = {}
            for variant in VARIANTS:
                folder = run_dir(opts.root, dataset, f"flow-{variant}-split{split}")
                errors_file = folder / pair_errors_name(split, "test")
                if not (folder / "record.json").is_file() or (key in _flow_metrics(folder) and errors_file.is_file()):
                    continue
                pairs = pairs or split_pairs(opts.root, dataset, split, "test", max_pairs)
                # once per split, not per variant
                references = references or list(reference_rows(pairs, cfg, reference_sums))
                device = pick_device(opts.device)
                sums = dict(reference_sums)
                uf = uf_row(load_estimator(folder / CHECKPOINT, device), pairs, cfg, device, sums)
                rows = [references[0], uf, *references[1:]]
                save_pair_errors(errors_file, sums)  # per pair, for the paired differences table
                update_record(folder, flow_metrics={**_flow_metrics(folder), key: flow_metrics(rows)})


def _flow_metrics(folder: Path) -> dict:
    from bench.runs import load_record

    return load_record(folder).flow_metrics


def _record_path(root: Path, record: RunRecord) -> str:
    return str(run_dir(root, record.dataset, record.name) / "record.json")


def is_study_run(record: RunRecord) -> bool:
    """True for the runs the study trains and tabulates: ``<method>-split<k>`` (and ``flow-<variant>-split<k>``).

    Runs given another name with ``--name`` (longer schedules, diagnostics) stay out of the tables,
    so an experiment beside the study never shifts a cell's mean.
    """
    return record.name == f"{record.method}-split{record.split}"


def measured(root: Path, datasets: tuple[str, ...]) -> tuple[list[Measured], list[Measured]]:
    """Classification records and flow-source EPEs (stage-1 runs, and TV-L1 from their flow-eval) of the study runs."""
    runs, flows = [], []
    for dataset in datasets:
        for record in filter(is_study_run, list_runs(root, dataset)):
            path = _record_path(root, record)
            if record.metrics.get("top1") is not None:
                label = ""
                if record.method == "supflow":
                    label = "oracle" if record.config.get("supervised_flow") == "oracle" else "RAFT-small"
                runs.append(Measured(record.method, dataset, record.split, record.metrics["top1"], path, label,
                                     clips=record.metrics.get("clips")))  # fmt: skip
            test = record.flow_metrics.get(f"split{record.split}_test")
            if record.method.startswith("flow-") and test:
                nan = float("nan")
                flows.append(Measured(record.method, dataset, record.split, nan, path, epe=test["epe"],
                                      epe_ci95=test.get("epe_ci95")))  # fmt: skip
                tvl1 = test.get("references", {}).get("tvl1")
                if tvl1 and not any(f.method == "flow-tvl1" and f.split == record.split and f.dataset == dataset
                                    for f in flows):  # fmt: skip
                    flows.append(Measured("flow-tvl1", dataset, record.split, nan, path, epe=tvl1["epe"],
                                          epe_ci95=tvl1.get("epe_ci95")))  # fmt: skip
    return runs, flows
