"""Figures: flow visualisations (RGB | TV-L1 | supervised | UF-TSN | ground truth) and confusion matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.runs import CHECKPOINT, load_record, run_dir
from pipeline.storage.flowcode import dequantize_flow
from ufsn.flow.viz import flow_to_color
from ufsn.layout import hwc, unit_rgb


def _decode(blob: bytes, flags: int) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(blob, np.uint8), flags)


def _rgb_pair(reader, vid: str) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    a, b = reader.read_rgb(vid, 0, 2)
    return _decode(a, cv2.IMREAD_COLOR)[..., ::-1], _decode(b, cv2.IMREAD_COLOR)[..., ::-1]


def _tvl1(reader, vid: str) -> np.ndarray:
    import cv2

    x, y = reader.read_flow(vid, 0, 1)[0]
    code = np.stack([_decode(x, cv2.IMREAD_GRAYSCALE), _decode(y, cv2.IMREAD_GRAYSCALE)], axis=-1)
    return dequantize_flow(code)  # (H, W, 2) px


@torch.no_grad()
def _net_flow(estimator, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return hwc(estimator(unit_rgb(a)[None], unit_rgb(b)[None]).full[0])  # (H, W, 2)


def run_estimator(root: Path, dataset: str, name: str):
    """The flow estimator inside a trained run (stage-3 UF-TSN, supflow oracle, or a stage-1 run); None if absent."""
    from ufsn.checkpoint import load_checkpoint
    from ufsn.flow.net import FlowNet, flownet_config

    folder = run_dir(root, dataset, name)
    if not (folder / CHECKPOINT).is_file():
        return None
    record = load_record(folder)
    state = load_checkpoint(folder / CHECKPOINT)
    if record.method.startswith("flow-"):
        from ufsn.flow.train import load_estimator

        return load_estimator(folder / CHECKPOINT)
    if "flow_net" not in record.config:
        return None
    net = FlowNet(flownet_config(record.config["flow_net"], file=str(folder / "record.json")))
    net.load_state_dict({k[len("estimator.") :]: v for k, v in state["model"].items() if k.startswith("estimator.")})
    return net.eval()


def flow_panel(root: Path, dataset: str, split: int, video_ids: list[str], out: Path) -> Path:
    """One row per video: RGB | TV-L1 | supervised flow | UF-TSN | ground truth (when known)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.storage.paths import DatasetPaths
    from ufsn.tsn.data import open_reader

    paths = DatasetPaths(Path(root), dataset)
    reader = open_reader(root, dataset, "shards" if (paths.shards / "index.csv").is_file() else "frames")
    estimators = {"supervised flow": run_estimator(root, dataset, f"supflow-split{split}"),
                  "UF-TSN": run_estimator(root, dataset, f"ufsn-split{split}")}  # fmt: skip
    columns = ["RGB", "TV-L1", *(k for k, v in estimators.items() if v is not None)]
    has_gt = all(paths.flow_gt_npz(v).is_file() for v in video_ids)
    columns += ["ground truth"] if has_gt else []
    fig, axes = plt.subplots(len(video_ids), len(columns), figsize=(2.2 * len(columns), 2.2 * len(video_ids)),
                             squeeze=False)  # fmt: skip
    for row, vid in enumerate(video_ids):
        a, b = _rgb_pair(reader, vid)
        flows = {"TV-L1": _tvl1(reader, vid)}
        flows.update({k: _net_flow(e, a, b) for k, e in estimators.items() if e is not None})
        if has_gt:
            with np.load(paths.flow_gt_npz(vid)) as gt:
                flows["ground truth"] = gt["flow"][0].astype(np.float32)
        scale = max(float(np.linalg.norm(f, axis=-1).max()) for f in flows.values()) or 1.0
        for col, name in enumerate(columns):
            image = a if name == "RGB" else flow_to_color(flows[name], scale)
            axes[row, col].imshow(image)
            axes[row, col].set_axis_off()
            if row == 0:
                axes[row, col].set_title(name, fontsize=9)
        rgb = axes[row, 0]  # the clip's name under its frame, clear of the column titles
        rgb.text(0.0, -0.02, vid, transform=rgb.transAxes, va="top", fontsize=6)
    reader.close()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")  # long class names stay inside the image
    plt.close(fig)
    return out


def confusion_figure(root: Path, dataset: str, split: int, class_names: list[str], out: Path,
                     max_classes: int = 20) -> Path | None:  # fmt: skip
    """RGB stream | UF-TSN | difference (the seed's "promotion"), row-normalised; None without both runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rgb = run_dir(root, dataset, f"rgb-split{split}") / "scores.npz"
    uf = run_dir(root, dataset, f"ufsn-split{split}") / "scores.npz"
    if not (rgb.is_file() and uf.is_file()):
        return None
    with np.load(rgb) as a, np.load(uf) as b:
        m_rgb, m_uf = a["confusion_spatial"].astype(float), b["confusion_fused"].astype(float)
    norm = lambda m: m / np.maximum(m.sum(axis=1, keepdims=True), 1)  # noqa: E731
    m_rgb, m_uf = norm(m_rgb), norm(m_uf)
    keep = np.arange(len(m_rgb))
    if len(keep) > max_classes:  # the classes UF-TSN improves most, as the seed shows "part categories"
        keep = np.sort(np.argsort(-(np.diag(m_uf) - np.diag(m_rgb)))[:max_classes])
    pick = lambda m: m[np.ix_(keep, keep)]  # noqa: E731
    names = [class_names[i] if i < len(class_names) else str(i) for i in keep]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    panels = [("RGB stream", pick(m_rgb), "Blues", (0, 1)), ("UF-TSN", pick(m_uf), "Blues", (0, 1)),
              ("UF-TSN - RGB", pick(m_uf - m_rgb), "RdBu", (-1, 1))]  # fmt: skip
    for i, (ax, (title, m, cmap, lim)) in enumerate(zip(axes, panels, strict=True)):
        ax.imshow(m, cmap=cmap, vmin=lim[0], vmax=lim[1])
        ax.set_title(title)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), names if i == 0 else [], fontsize=6)  # the rows are the same in all three
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")  # long class names stay inside the image
    plt.close(fig)
    return out


def make_figures(root: Path, dataset: str, split: int, out_dir: Path, videos: int = 4) -> list[Path]:
    """Flow panel of ``videos`` test videos (one per class, evenly spread) and the confusion figure."""
    from bench.inputs import require_split, resolve_source

    rows = require_split(root, dataset, split, ("test",))
    resolve_source(root, dataset, "auto")
    by_class: dict[int, str] = {}
    for r in rows:
        by_class.setdefault(r.label, r.video_id)
    labels = sorted(by_class)
    chosen = [by_class[labels[i]] for i in np.linspace(0, len(labels) - 1, min(videos, len(labels))).astype(int)]
    names = {r.label: r.cls for r in rows}
    class_names = [names.get(i, str(i)) for i in range(max(names) + 1)]
    made = [flow_panel(root, dataset, split, chosen, Path(out_dir) / "flow.png")]
    confusion = confusion_figure(root, dataset, split, class_names, Path(out_dir) / "confusion.png")
    return made + ([confusion] if confusion else [])
