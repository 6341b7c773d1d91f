"""Test data for shards and loaders: frame and flow folders written here, independent of extract/tvl1."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from pipeline.storage.flowcode import quantize_flow
from pipeline.storage.paths import DatasetPaths, flow_names, frame_name
from pipeline.synth.dataset import class_table, preset, render_clip


def make_frame_folders(tiny_root: Path, root: Path, groups: tuple[int, ...] = (1, 8, 24)) -> DatasetPaths:
    """Copy the tiny synthetic videos + classes.csv into ``root`` and write frames/ and tvl1/ for some groups.

    Frames are the rendered RGB images as JPEG; flow is the ground truth quantised with the
    TV-L1 code (bound 20), so tests know exactly what a flow JPEG should decode to.
    """
    paths = DatasetPaths(root, "synthetic")
    src = DatasetPaths(tiny_root, "synthetic")
    shutil.copytree(src.videos, paths.videos)
    shutil.copy(src.classes_csv, paths.classes_csv)
    config = preset("tiny", root=tiny_root)
    for cls in class_table(config.families, config.motions):
        for group in groups:
            clip = render_clip(config, cls, group, 1)
            vid = f"v_{cls.name}_g{group:02d}_c01"
            paths.frame_dir(vid).mkdir(parents=True)
            paths.flow_dir(vid).mkdir(parents=True)
            for i, frame in enumerate(clip.frames, start=1):
                cv2.imwrite(str(paths.frame_dir(vid) / frame_name(i)), frame[:, :, ::-1])
            codes = quantize_flow(clip.flow)  # (T-1, H, W, 2) uint8
            for i, code in enumerate(codes, start=1):
                x_name, y_name = flow_names(i)
                cv2.imwrite(str(paths.flow_dir(vid) / x_name), np.ascontiguousarray(code[..., 0]))
                cv2.imwrite(str(paths.flow_dir(vid) / y_name), np.ascontiguousarray(code[..., 1]))
    return paths
