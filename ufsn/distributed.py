"""Device choice and DDP set-up: one process per device when launched by ``torchrun``.

Under torchrun every rank runs the same command. What only one process may do (make a run folder,
write a record, a checkpoint or a table) runs on rank 0 inside :func:`on_main`, whose result or error
reaches every rank; checks that every rank makes go through :func:`agree`, so a failure on any rank
ends all of them with the same error instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple, TypeVar

import torch
from torch import nn

T = TypeVar("T")
TIMEOUT_ENV = "UFSN_DIST_TIMEOUT_MIN"  # minutes a collective waits for a rank that is still working


class DistContext(NamedTuple):
    """Where this process runs and which part of the job it owns."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; otherwise the named device."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def init_distributed(requested_device: str = "auto") -> DistContext:
    """Join the process group when torchrun's environment is present (NCCL on GPU, gloo on CPU).

    Idempotent: a second call (a run that trains the runs it needs) returns the same context.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(0, 1, 0, pick_device(requested_device))
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device)
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        # Rank 0 alone evaluates nothing for long, but a stage-2 flow cache or a test pass can keep one rank
        # busy while the others wait at a barrier: the default 30 min is short for UCF-101 on one GPU each.
        minutes = float(os.environ.get(TIMEOUT_ENV, "120"))
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=timedelta(minutes=minutes))
        import atexit

        atexit.register(shutdown_distributed)  # once per process: commands run in one process share the group
    return DistContext(rank, world_size, local_rank, device)


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _joined() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if _joined():
        import torch.distributed as dist

        dist.barrier()


def on_main(fn: Callable[[], T]) -> T:
    """``fn()`` on rank 0 only; every rank returns its result, or raises the exception it raised.

    The broadcast is also a barrier: no rank goes on before rank 0's writes are done.
    """
    if not _joined():
        return fn()
    import torch.distributed as dist

    payload: list = [None]
    if dist.get_rank() == 0:
        try:
            payload = [(True, fn())]
        except Exception as exc:  # noqa: BLE001  (re-raised below, on every rank)
            payload = [(False, _portable(exc))]
    dist.broadcast_object_list(payload, src=0)
    ok, value = payload[0]
    if not ok:
        raise value
    return value


def agree(fn: Callable[[], T]) -> T:
    """``fn()`` on every rank; when any rank raises, every rank raises the lowest failing rank's exception."""
    if not _joined():
        return fn()
    import torch.distributed as dist

    error, result = None, None
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001  (re-raised below, on every rank)
        error = _portable(exc)
    errors: list = [None] * dist.get_world_size()
    dist.all_gather_object(errors, error)
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return result


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling (to reach the other ranks), else a RuntimeError with its message."""
    import copy
    import pickle

    try:
        pickle.dumps(exc)  # it can be sent ...
        copy.deepcopy(exc)  # ... and rebuilt from its __reduce_ex__, as the receiving rank does
        return exc
    except Exception:  # noqa: BLE001  (unpicklable exceptions take many forms)
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over the ranks (a copy; the tensor itself in one process)."""
    if not _joined():
        return values
    import torch.distributed as dist

    total = values.clone()
    dist.all_reduce(total)
    return total


def all_finite(value: torch.Tensor) -> bool:
    """Whether a scalar loss is finite on every rank, so all ranks stop together on a NaN (one all-reduce)."""
    flag = torch.tensor([float(torch.isfinite(value.detach()).all())], device=value.device)
    if _joined():
        import torch.distributed as dist

        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def broadcast_buffers(model: nn.Module) -> None:
    """Every buffer of ``model`` (BatchNorm running statistics) set to rank 0's, in place (nothing in one process)."""
    if not _joined():
        return
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """``model`` DDP-wrapped when the job is distributed (gradients all-reduced in backward), else itself."""
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)
