"""The public interface of ``pipeline`` for ``ufsn``: dataset layout, split lists, frame / flow / shard
readers, the flow code, atomic writes and progress bars. ``ufsn`` imports pipeline only through this module, so the
storage and step modules behind it can change without touching the models."""

from __future__ import annotations

from pipeline.catalog import load_definition
from pipeline.frame_size import FrameSize
from pipeline.parallel import usable_cpus
from pipeline.progress import progress_bar
from pipeline.readers.decoders import frame_count, read_frames
from pipeline.readers.folder import FolderReader, count_items
from pipeline.readers.shard import ShardReader
from pipeline.readers.video import find_videos
from pipeline.steps.splits import group_subsets, read_split
from pipeline.steps.tvl1.opencv import compute_tvl1
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.storage.atomic import atomic_dir, atomic_write_bytes, atomic_write_text, remove_stale_temporaries
from pipeline.storage.flowcode import DEFAULT_BOUND, code_to_input, quantize_flow
from pipeline.storage.paths import DatasetPaths, flow_names, frame_name, inside

__all__ = [
    "DEFAULT_BOUND",
    "DatasetPaths",
    "FolderReader",
    "FrameSize",
    "ShardReader",
    "TVL1Params",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "code_to_input",
    "compute_tvl1",
    "count_items",
    "flow_names",
    "frame_count",
    "frame_name",
    "group_subsets",
    "inside",
    "load_definition",
    "progress_bar",
    "quantize_flow",
    "read_frames",
    "read_split",
    "remove_stale_temporaries",
    "find_videos",
    "usable_cpus",
]
