"""``ufsn-data lists``: mmaction2 rawframe annotation lists from ``splits/split<k>.csv`` and the frame folders.

mmaction2's ``RawframeDataset`` reads one video per line, ``frame_dir total_frames label``, with
``frame_dir`` relative to the dataset's ``data_prefix`` and 0-based labels. Its file names follow
``tools/data/build_file_list.py``: ``<dataset>_train_split_<k>_rawframes.txt`` (the official training
list) and ``<dataset>_val_split_<k>_rawframes.txt`` (the official test list, which mmaction2 calls val).
ufsn's own val subset is part of the official training list, so it goes into the train file.

Layout on the mmaction2 side:
- RGB: ``data_prefix=<root>/<dataset>/frames``, ``filename_tmpl='img_{:05}.jpg'``, ``start_index=1``;
  ``total_frames`` counts ``img_*.jpg``.
- Flow (``modality='Flow'``): ``data_prefix=<root>/<dataset>/tvl1``, ``filename_tmpl='flow_{}_{:05d}.jpg'``
  (``{}`` is ``x`` or ``y``), ``start_index=1``; ``total_frames`` counts ``flow_x_*.jpg`` (frames - 1),
  in ``<dataset>_{train,val}_split_<k>_rawframes_flow.txt``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from pipeline.readers.folder import count_items
from pipeline.steps.splits import read_split
from pipeline.storage.atomic import atomic_write_text
from pipeline.storage.paths import DatasetPaths
from ufsn.errors import ConfigError, MissingInputError

Modality = Literal["rgb", "flow"]
MODALITIES: tuple[Modality, ...] = ("rgb", "flow")
MMACTION_SUBSETS = {"train": ("train", "val"), "val": ("test",)}  # mmaction2 file -> ufsn subsets in it
PREFIX = {"rgb": "img_", "flow": "flow_x_"}
RGB_TEMPLATE, FLOW_TEMPLATE, START_INDEX = "img_{:05}.jpg", "flow_{}_{:05d}.jpg", 1


@dataclass(frozen=True)
class ListsConfig:
    """Options of ``ufsn-data lists``."""

    root: Path = Path("data")
    dataset: str = "ucf101"
    out: Path | None = None  # folder of the lists (default: <root>/<dataset>/mmaction2)
    modalities: tuple[Modality, ...] = MODALITIES

    def __post_init__(self) -> None:
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities:
            raise ConfigError(f"modalities must be among {MODALITIES}, got {self.modalities}")


class ListsReport(NamedTuple):
    written: tuple[Path, ...]
    lines: dict[str, int]  # file name -> videos listed
    skipped: tuple[str, ...]  # one message per video left out (no frames / no flow), naming the folder
    seconds: float


def list_name(dataset: str, subset: str, split: int, modality: Modality) -> str:
    """mmaction2's file name: ``ucf101_train_split_1_rawframes.txt`` (RGB), ``..._rawframes_flow.txt`` (flow)."""
    suffix = "_flow" if modality == "flow" else ""
    return f"{dataset}_{subset}_split_{split}_rawframes{suffix}.txt"


def list_line(frame_dir: str, total_frames: int, label: int) -> str:
    return f"{frame_dir} {total_frames} {label}\n"


def _splits(paths: DatasetPaths) -> list[int]:
    found = sorted(int(p.stem.removeprefix("split")) for p in paths.splits.glob("split*.csv")
                   if p.stem.removeprefix("split").isdigit())  # fmt: skip
    if not found:
        raise MissingInputError(f"no split files in {paths.splits}; run `ufsn-data splits` first")
    return found


def run_lists(config: ListsConfig) -> ListsReport:
    """Write every split's train/val lists for each modality; videos without frames (or flow) are left out
    of that modality's lists with a message, the others are written."""
    start = time.perf_counter()
    paths = DatasetPaths(Path(config.root), config.dataset)
    out = Path(config.out) if config.out is not None else paths.base / "mmaction2"
    folders = {"rgb": paths.frame_dir, "flow": paths.flow_dir}
    counts: dict[tuple[Modality, str], int] = {}
    written, lines, skipped = [], {}, []
    for split in _splits(paths):
        rows = read_split(paths.split_csv(split))
        for modality in config.modalities:
            for subset, ours in MMACTION_SUBSETS.items():
                text = []
                for row in (r for r in rows if r.subset in ours):
                    key = (modality, row.video_id)
                    if key not in counts:
                        counts[key] = count_items(folders[modality](row.video_id), PREFIX[modality])
                    if counts[key] == 0:
                        skipped.append(f"{folders[modality](row.video_id)}: no {PREFIX[modality]}*.jpg; "
                                       f"left out of the {modality} lists")  # fmt: skip
                        continue
                    text.append(list_line(row.video_id, counts[key], row.label))
                name = list_name(config.dataset, subset, split, modality)
                atomic_write_text(out / name, "".join(text))
                written.append(out / name)
                lines[name] = len(text)
    return ListsReport(tuple(written), lines, tuple(dict.fromkeys(skipped)), time.perf_counter() - start)
