"""One epoch of the temporal stream on the tiny set, single process or under torchrun (DDP, gloo).

Usage: python tests/scripts/ddp_train_check.py ROOT OUT GLOBAL_BATCH   (or under torchrun --nproc-per-node 2)
Writes the trained state dict to OUT (rank 0). Deterministic data (val-mode clips: centred snippets,
no flips), dropout 0 and every BatchNorm in eval mode, so k processes x batch b and 1 process x
batch k*b must give the same weights up to float summation order.
Kept in tests/scripts/: run by path, its folder becomes sys.path[0], and tests/ holds folders named like
the packages (tests/ufsn, tests/pipeline) that would shadow them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from ufsn.distributed import init_distributed, shutdown_distributed
from ufsn.tsn.data import ClipConfig, split_dataset
from ufsn.tsn.stages import train_stream
from ufsn.tsn.streams import StreamConfig, TSNStream
from ufsn.tsn.train import OptimConfig


class _FrozenBN(TSNStream):
    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


def main() -> None:
    root, out, global_batch = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    clip = ClipConfig(modality="flow", mode="val", segments=2, new_length=3, size=32)
    data = split_dataset(root, "synthetic", 1, ("train",), clip, source="shards")
    torch.manual_seed(0)
    model = _FrozenBN(StreamConfig(in_channels=6, num_classes=4, dropout=0.0, weights="random", partial_bn=False))
    config = OptimConfig(epochs=1, lr=0.05, lr_steps=(), batch_size=global_batch // ctx.world_size, clip_grad=0.0)
    train_stream(model, data, config, ctx, checkpoint=out.with_suffix(".ckpt"), resume=False, meta={}, workers=0,
                 max_iters=4, progress=False)  # fmt: skip
    if ctx.is_main:
        torch.save(model.state_dict(), out)
    shutdown_distributed()


if __name__ == "__main__":
    main()
