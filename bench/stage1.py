"""Stage-1 runs (``flow-<variant>-split<k>``) as a library call: train on demand, write the record."""

from __future__ import annotations

from pathlib import Path

from bench.experiment import config_path
from bench.runs import RunRecord, git_commit, now_iso, run_dir, run_folder, write_record
from ufsn.config_loader import apply_override, read_toml


def flow_run_name(variant: str, split: int) -> str:
    return f"flow-{variant}-split{split}"


def load_flow_config(name_or_path: str | Path | None, overrides: tuple[str, ...] = (), **fields):
    """FlowTrainConfig from a TOML file (top-level keys, ``[net]``, ``[loss]``), ``--set`` overrides
    (``net.levels=5``), then ``fields`` (None ignored); errors name the file, section and key."""
    from ufsn.flow.train import FlowTrainConfig

    data, where = {}, "stage-1 config"
    if name_or_path is not None:
        path = config_path(str(name_or_path))
        data, where = read_toml(path), str(path)
    for item in overrides:
        apply_override(data, item)
    data.update({k: v for k, v in fields.items() if v is not None})
    return FlowTrainConfig.from_dict(data, file=where)


def train_flow_run(config, *, name: str | None = None, resume: bool = False, force: bool = False,
                   progress: bool = True) -> RunRecord:  # fmt: skip
    """Train stage 1 with ``config`` (a FlowTrainConfig) into its run folder and write record.json.

    Under torchrun every rank trains (DDP); rank 0 alone makes the folder and writes; every rank returns the record.
    """
    from bench.inputs import require_dataset
    from ufsn.distributed import agree, init_distributed, on_main
    from ufsn.flow.train import train_flow, training_videos

    ctx = init_distributed(config.device)
    paths = agree(lambda: require_dataset(config.root, config.dataset))
    agree(lambda: training_videos(config, paths))  # checked before a run folder is made
    name = name or flow_run_name(config.variant, config.split)
    with run_folder(config.root, config.dataset, name, resume=resume, force=force, is_main=ctx.is_main) as folder:
        result = train_flow(config, folder, resume=resume, progress=progress, ctx=ctx)
    notes = []
    if result.stopped_early:
        notes.append(f"max_minutes={config.max_minutes} stopped the run after {result.steps} of {config.steps} steps "
                     "(the lr schedule is in steps: a stopped run has not reached its end)")  # fmt: skip
    record = RunRecord(
        name=name, method=f"flow-{config.variant}", dataset=config.dataset, split=config.split,
        flow_metrics={"val_epe": result.val_epe, "steps": result.steps, "stopped_early": result.stopped_early},
        params=result.params, config=config.to_dict(), weights="random", device=result.device,
        seconds=round(result.seconds, 1), git_commit=git_commit(), created=now_iso(), notes=notes,
        world_size=result.world_size, global_batch={"stage1": result.global_batch},
    )  # fmt: skip
    on_main(lambda: write_record(folder, record))
    return record


def ensure_flow_run(root: Path, dataset: str, variant: str, split: int, flow_config: str,
                    progress: bool = True, device: str = "auto") -> Path:  # fmt: skip
    """Folder of run ``flow-<variant>-split<k>``, trained now (or resumed) when it has no record yet."""
    folder = run_dir(root, dataset, flow_run_name(variant, split))
    if (folder / "record.json").is_file():
        return folder
    config = load_flow_config(flow_config, root=str(root), dataset=dataset, variant=variant, split=split,
                              device=device)  # fmt: skip
    train_flow_run(config, resume=folder.exists(), progress=progress)
    return folder


def stage1_loss(folder: Path):
    """The unsupervised loss a stage-1 run ended with (its record's config): stage 3 of UF-TSN goes on with it."""
    from bench.runs import load_record
    from ufsn.flow.train import FlowTrainConfig

    record = load_record(folder)
    return FlowTrainConfig.from_dict(record.config, file=str(folder / "record.json")).end_loss()
