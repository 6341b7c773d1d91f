"""``ufsn-bench train`` / ``evaluate``: every method (bench.method_models.METHODS) as stages over the run store."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.experiment import TEST_CROPS, ExperimentConfig, experiment_from_dict, load_experiment, to_dict, with_split
from bench.inputs import resolve_source
from bench.method_models import MethodSpec, load_flow_estimator, method_spec, supervised_source
from bench.runs import CHECKPOINT, RunRecord, git_commit, load_record, now_iso, run_dir, run_folder, write_record
from bench.stage1 import ensure_flow_run, flow_run_name, stage1_loss
from pipeline.storage.paths import DatasetPaths

SPATIAL_RUN = "rgb-split{split}"


@dataclass(frozen=True)
class TrainOptions:
    """Options of ``ufsn-bench train``."""

    root: Path
    dataset: str
    method: str
    split: int | None = None  # None: the config's split
    config: str = "synthetic"  # bench/configs name or a TOML path
    overrides: tuple[str, ...] = ()  # --set section.key=value
    name: str | None = None  # run name (default <method>-split<k>)
    resume: bool = False
    force: bool = False
    device: str = "auto"
    weights: str = ""  # backbone state-dict path for both streams ("" = the config's)
    flow_weights: str = ""  # RAFT-small weights for supflow on real data
    progress: bool = True


def _num_classes(root: Path, dataset: str, split: int) -> int:
    from pipeline.steps.splits import read_split

    rows = read_split(DatasetPaths(Path(root), dataset).split_csv(split))
    return max(r.label for r in rows) + 1


def _dataset(root, dataset, exp: ExperimentConfig, modality: str, mode: str, test_crops: int | None = None,
             ground_truth_flow: bool = False):  # fmt: skip
    """The train or test ClipDataset; ``ground_truth_flow`` serves exact flow codes instead of TV-L1's."""
    from pipeline.readers.gt_flow import GroundTruthFlowReader
    from ufsn.tsn.data import ClipConfig, split_dataset

    crops = test_crops or TEST_CROPS[exp.input.test_crops]
    clip = ClipConfig(modality=modality, mode=mode, segments=exp.input.segments, new_length=exp.input.flow_pairs,
                      test_snippets=exp.input.test_snippets, test_crops=crops, size=exp.input.crop)  # fmt: skip
    subsets = tuple(exp.train_subsets if mode == "train" else (exp.test_subset,))
    flow = GroundTruthFlowReader(Path(root), dataset) if ground_truth_flow else None
    return split_dataset(
        Path(root), dataset, exp.split, subsets, clip, resolve_source(root, dataset, exp.input.source), flow
    )


def _estimator(opts: TrainOptions, exp: ExperimentConfig, spec: MethodSpec, device):
    """(estimator, description, stage-1 loss) of the flow source that ``spec``'s temporal stream embeds.

    The stage-1 run is trained first when it has no record (by every rank together under torchrun).
    """
    from ufsn.flow.losses import LossConfig

    supervised = spec.flow_source == "supervised"
    if supervised and supervised_source(exp, opts.dataset) == "raft_small":
        from ufsn.flow.supervised import load_raft_small

        raft = load_raft_small(opts.flow_weights or exp.ufsn.flow_weights).to(device)
        return raft, {"supervised_flow": "raft_small"}, LossConfig()
    folder = ensure_flow_run(opts.root, opts.dataset, spec.flow_variant, exp.split, exp.ufsn.flow_config,
                             opts.progress, device=opts.device)  # fmt: skip
    net = load_flow_estimator(folder, device)
    loss = stage1_loss(folder)
    info = {
        "flow_run": folder.name,
        "flow_net": dataclasses.asdict(net.config),
        "stage3_loss": dataclasses.asdict(loss),
    }
    if supervised:
        info["supervised_flow"] = "oracle"
    return net, info, loss


def train_method(opts: TrainOptions) -> RunRecord:
    """Train ``opts.method`` (and whatever runs it needs), evaluate it and write its run.

    Under torchrun every rank trains (DDP), rank 0 alone writes, and every rank returns the record.
    """
    import torch

    from ufsn.distributed import agree, init_distributed
    from ufsn.flow.net import count_parameters
    from ufsn.tsn.stages import train_stream

    spec = method_spec(opts.method)
    exp = with_split(load_experiment(opts.config, opts.overrides), opts.split)
    if opts.weights:
        exp = replace(exp, spatial=replace(exp.spatial, weights=opts.weights),
                      temporal=replace(exp.temporal, weights=opts.weights))  # fmt: skip
    ctx = init_distributed(opts.device)
    exp, notes = agree(lambda: _preflight(opts, exp, spec))  # before any run folder is made or any step trained
    classes = agree(lambda: _num_classes(opts.root, opts.dataset, exp.split))
    name = opts.name or f"{opts.method}-split{exp.split}"
    if spec.stream == "temporal":
        _ensure_spatial(opts, exp)
    meta = {"experiment": to_dict(exp), "method": opts.method, "classes": classes}
    if notes:
        meta["notes"] = notes
    estimator = None
    if spec.embeds_estimator:
        estimator, info, loss = _estimator(opts, exp, spec, ctx.device)
        meta.update(info)
    start = time.perf_counter()
    # The config's seed fixes the initial weights (the sampler and augmentation are seeded per epoch),
    # so a run is reproducible and a killed-and-resumed run ends with the weights of an uninterrupted one.
    torch.manual_seed(exp.seed)  # after _estimator: it may have trained stage 1, which moves the RNG
    model = spec.build(exp, classes, estimator)
    with run_folder(opts.root, opts.dataset, name, resume=opts.resume, force=opts.force,
                    is_main=ctx.is_main) as folder:  # fmt: skip
        if spec.embeds_estimator:
            from ufsn.tsn.uf_tsn import train_uf_tsn

            meta["stage2_start"] = _init_from_tvl1(opts, exp, model, folder)
            reader, videos = _training_videos(opts, exp)
            config = _uf_config(exp, spec, loss)
            train_uf_tsn(model, reader, videos, config, ctx, folder=folder, meta=meta, resume=opts.resume,
                         progress=opts.progress)  # fmt: skip
            batches = {
                "stage2": config.stage2.batch_size,
                **({"stage3": config.stage3.batch_size} if config.stage3 else {}),
            }
        else:
            data = _dataset(opts.root, opts.dataset, exp, spec.modality, "train", ground_truth_flow=spec.exact_flow)
            optim = exp.spatial_optim if spec.stream == "spatial" else exp.temporal_optim
            train_stream(model, data, optim, ctx, checkpoint=folder / CHECKPOINT, meta=meta, resume=opts.resume,
                         workers=exp.input.workers, max_iters=exp.input.max_iters, progress=opts.progress,
                         log_csv=folder / "train_log.csv")  # fmt: skip
            batches = {spec.stream: optim.batch_size}
    record = RunRecord(
        name=name, method=opts.method, dataset=opts.dataset, split=exp.split, params=count_parameters(model),
        config=meta, weights=_weights(model), device=str(ctx.device), seconds=round(time.perf_counter() - start, 1),
        git_commit=git_commit(), created=now_iso(), notes=notes, world_size=ctx.world_size,
        global_batch={stage: batch * ctx.world_size for stage, batch in batches.items()},
    )  # fmt: skip
    return evaluate_run(opts.root, opts.dataset, name, record=record, model=model, device=opts.device,
                        progress=opts.progress)  # fmt: skip


def _training_videos(opts: TrainOptions, exp: ExperimentConfig):
    """(RGB reader, [(video_id, label)]) of the config's training subsets."""
    from pipeline.steps.splits import read_split
    from ufsn.tsn.data import open_reader

    rows = read_split(DatasetPaths(Path(opts.root), opts.dataset).split_csv(exp.split), exp.train_subsets)
    source = resolve_source(opts.root, opts.dataset, exp.input.source)
    return open_reader(Path(opts.root), opts.dataset, source, [r.video_id for r in rows]), [
        (r.video_id, r.label) for r in rows
    ]


def _uf_config(exp: ExperimentConfig, spec: MethodSpec, loss):
    """Stages 2 and 3 of the config (stage 3 only where the method fine-tunes end to end)."""
    from ufsn.tsn.data import ClipConfig
    from ufsn.tsn.uf_tsn import UFTSNConfig

    clip = ClipConfig(modality="rgbpair", mode="train", segments=exp.input.segments, new_length=exp.input.flow_pairs,
                      size=exp.input.crop)  # fmt: skip
    return UFTSNConfig(stage2=exp.ufsn.stage2, stage3=exp.ufsn.stage3 if spec.end_to_end else None, clip=clip,
                       unsup_weight=exp.ufsn.unsup_weight, loss=loss, workers=exp.input.workers,
                       max_iters=exp.input.max_iters,
                       stage3_max_iters=exp.input.max_iters or exp.ufsn.stage3_max_iters)  # fmt: skip


def _preflight(opts: TrainOptions, exp: ExperimentConfig, spec) -> tuple[ExperimentConfig, list[str]]:
    """Check what ``spec`` reads (dataset, split subsets, frames / flow, weights) and cap the DataLoader
    workers; returns the config to train with and the notes for the record. Raises MissingInputError."""
    from bench.inputs import require_clips, require_raft_weights, require_split, resolve_pretraining
    from ufsn.workers import capped_workers, worker_cap_note

    if spec.exact_flow:  # the reader says that only the synthetic set has exact flow
        from pipeline.readers.gt_flow import GroundTruthFlowReader

        GroundTruthFlowReader(Path(opts.root), opts.dataset)
    train_rows = require_split(opts.root, opts.dataset, exp.split, exp.train_subsets)
    test_rows = require_split(opts.root, opts.dataset, exp.split, (exp.test_subset,))
    source = resolve_source(opts.root, opts.dataset, exp.input.source)
    spatial_needed = (
        spec.stream == "spatial"
        or not (run_dir(opts.root, opts.dataset, SPATIAL_RUN.format(split=exp.split)) / "record.json").is_file()
    )
    modalities = list(dict.fromkeys((*(["rgb"] if spatial_needed else []), *spec.reads)))
    name = DatasetPaths(Path(opts.root), opts.dataset).split_csv(exp.split).name
    for modality in modalities:
        require_clips(opts.root, opts.dataset, source, train_rows, modality, f"{name} {'+'.join(exp.train_subsets)}")
        require_clips(opts.root, opts.dataset, source, test_rows, modality, f"{name} {exp.test_subset}")
    streams = list(dict.fromkeys((*(["spatial"] if spatial_needed else []), spec.stream)))
    exp, notes = resolve_pretraining(exp, streams)
    if spec.flow_source == "supervised" and supervised_source(exp, opts.dataset) == "raft_small":
        require_raft_weights(opts.flow_weights or exp.ufsn.flow_weights)
    note = worker_cap_note(exp.input.workers)
    if note:
        notes.append(note)
        exp = replace(exp, input=replace(exp.input, workers=capped_workers(exp.input.workers)))
    if spec.stream == "temporal" and spatial_needed:
        notes = [n for n in notes if not n.startswith("spatial.")]  # the spatial run records its own
    return exp, notes


def _weights(model) -> str:
    stream = getattr(model, "classifier", model)
    return stream.weights_used


def _ensure_spatial(opts: TrainOptions, exp: ExperimentConfig) -> None:
    """Train (or finish) the shared spatial run when it has no record yet."""
    folder = run_dir(opts.root, opts.dataset, SPATIAL_RUN.format(split=exp.split))
    if (folder / "record.json").is_file():
        return
    # Every rank reads the same answer: the last write was rank 0's, followed by a broadcast (on_main).
    train_method(replace(opts, method="rgb", name=None, resume=folder.exists(), force=False, split=exp.split))


def _init_from_tvl1(opts: TrainOptions, exp: ExperimentConfig, model, folder: Path) -> str:
    """Stage 2 may start from the tvl1 temporal classifier (same input code) in a fresh run when the
    architectures match; returns where the classifier started from (for the record)."""
    tvl1 = run_dir(opts.root, opts.dataset, f"tvl1-split{exp.split}") / CHECKPOINT
    fresh = not (folder / "checkpoint-stage2.pt").exists() and not (folder / CHECKPOINT).exists()
    if not (exp.ufsn.init_from_tvl1 and fresh and tvl1.is_file()):
        return "init"
    from ufsn.checkpoint import load_checkpoint

    state = load_checkpoint(tvl1)["model"]
    own = model.classifier.state_dict()
    if state.keys() != own.keys() or any(state[k].shape != own[k].shape for k in own):
        return f"init ({tvl1} has another architecture)"
    model.classifier.load_state_dict(state)
    return str(tvl1)


def _rebuild(record: RunRecord):
    """The architecture of a run's model, from its record's config (weights: load its checkpoint)."""
    exp = experiment_from_dict(record.config["experiment"])
    exp = replace(exp, spatial=replace(exp.spatial, weights="random"), temporal=replace(exp.temporal, weights="random"))
    spec = method_spec(record.method)
    estimator = None
    if spec.embeds_estimator and record.config.get("supervised_flow") == "raft_small":
        from torchvision.models.optical_flow import raft_small

        from ufsn.flow.supervised import RaftEstimator

        estimator = RaftEstimator(raft_small(weights=None))
    elif spec.embeds_estimator:
        from ufsn.flow.net import FlowNet, flownet_config

        estimator = FlowNet(flownet_config(record.config["flow_net"], file=f"run record {record.name}"))
    return spec.build(exp, record.config["classes"], estimator)


def evaluate_run(root: Path, dataset: str, name: str, *, record: RunRecord | None = None, model=None,
                 test_crops: int | None = None, device: str = "auto", progress: bool = True) -> RunRecord:  # fmt: skip
    """Test protocol on a run: scores.npz (per stream + fused), metrics into record.json.

    Under torchrun each rank scores its share of the test videos; rank 0 writes, every rank returns the record.
    """
    from ufsn.checkpoint import load_checkpoint
    from ufsn.distributed import agree, init_distributed, on_main
    from ufsn.tsn.evaluate import evaluate_stream

    folder = run_dir(root, dataset, name)
    if record is None and not (folder / "record.json").is_file():
        from ufsn.errors import MissingInputError

        method, _, split = name.rpartition("-split")
        hint = f"--method {method} --split {split}" if method else "--method <method> --name " + name
        raise MissingInputError(f"no run record {folder / 'record.json'}; train the run with "
                         f"`ufsn-bench train --root {root} --dataset {dataset} {hint}`")  # fmt: skip
    ctx = init_distributed(device)
    record = record or agree(lambda: load_record(folder))
    exp = experiment_from_dict(record.config["experiment"])
    if model is None:
        model = _rebuild(record)
        model.load_state_dict(load_checkpoint(folder / CHECKPOINT)["model"])
    model = model.to(ctx.device)
    spec = method_spec(record.method)
    test = _dataset(root, dataset, exp, spec.modality, "test", test_crops, ground_truth_flow=spec.exact_flow)
    scores = evaluate_stream(model, test, device=ctx.device, batch_size=2, workers=exp.input.workers,
                             progress=progress and ctx.is_main, ctx=ctx)  # fmt: skip
    return on_main(lambda: _write_scores(root, dataset, folder, record, exp, spec, scores))


def _write_scores(root: Path, dataset: str, folder: Path, record: RunRecord, exp, spec, scores) -> RunRecord:
    """scores.npz and the record's metrics (fused with the spatial run's scores for a temporal stream)."""
    from ufsn.tsn.evaluate import fuse, load_scores, metrics_of, save_scores

    if spec.stream == "spatial":
        streams = {"spatial": scores}
        stream_metrics = {"spatial": metrics_of(scores)._asdict()}
        final = scores
    else:
        spatial = load_scores(run_dir(root, dataset, SPATIAL_RUN.format(split=exp.split)) / "scores.npz", "spatial")
        final = fuse(spatial, scores, exp.fusion_weight)
        streams = {"spatial": spatial, "temporal": scores, "fused": final}
        stream_metrics = {"spatial": metrics_of(spatial)._asdict(), "temporal": metrics_of(scores)._asdict()}
    save_scores(folder / "scores.npz", streams, record.config["classes"])
    flow_metrics = dict(record.flow_metrics)
    if "flow_run" in record.config:
        flow_record = run_dir(root, dataset, record.config["flow_run"]) / "record.json"
        if flow_record.is_file():
            flow_metrics = {**load_record(flow_record.parent).flow_metrics, "flow_run": record.config["flow_run"]}
    record = replace(record, metrics=metrics_of(final)._asdict(), stream_metrics=stream_metrics,
                     flow_metrics=flow_metrics)  # fmt: skip
    write_record(folder, record)
    return record


__all__ = ["TrainOptions", "train_method", "evaluate_run", "flow_run_name"]
