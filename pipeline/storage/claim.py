"""Per-video claims: two runs of a step on one dataset share the videos instead of each doing all.

A claim is a file ``.<video_id>.claim`` beside the video's output folder holding ``<host> <pid>``.
It is made by hard-linking a fully written temporary file to that name: the link fails when the
name exists (atomic, NFS included) and the content is complete the moment the name appears. It is
removed when the video is finished; one whose owner is dead (same host; zombies count as dead) is
taken over. Claims only save work: correctness never depends on them (``atomic_dir`` tolerates
two writers of one folder), so where a claim cannot be made or its owner checked (another host)
the video may be done twice, never wrongly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from pipeline.storage.atomic import TMP_MARK, pid_alive
from pipeline.storage.manifest import ManifestRow
from pipeline.storage.resume import folder_complete

CLAIM_SUFFIX = ".claim"
CONCURRENT_NOTE = "done by another run"
POLL_SECONDS = 0.05


class Deferred(NamedTuple):
    """A task left for later because another live run holds its claim."""

    video_id: str
    owner: str  # "<host> <pid>" of the claim's holder


def claim_path(out: Path) -> Path:
    """The claim file of output folder ``out``."""
    return out.with_name(f".{out.name}{CLAIM_SUFFIX}")


def folder_identity(folder: Path) -> int:
    """Inode of ``folder``, 0 when absent: a folder replaced by a rename has another one."""
    try:
        return os.stat(folder).st_ino
    except FileNotFoundError:
        return 0


def planned_identity(out: Path, row: ManifestRow | None) -> int:
    """The ``seen`` of a task planned for output folder ``out`` whose manifest row is ``row``.

    No row: 0, so a complete folder found at claim time is taken as done. Folders appear by atomic
    rename, complete; one without a row was made by a run that has not flushed its manifest yet (a
    concurrent run) or was killed before it could. A row that is not done (failed, another count):
    the folder's inode now, so that folder is redone.
    """
    return 0 if row is None else folder_identity(out)


def _holder(claim: Path) -> str | None:
    try:
        return claim.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _holder_alive(holder: str) -> bool | None:
    """True / False for a holder on this host; None when it cannot be told (another host, bad text)."""
    host, _, pid = holder.rpartition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return pid_alive(int(pid))


def try_claim(claim: Path) -> str | None:
    """Claim ``claim``: None when it is ours now, else the live (or unknowable) holder's ``host pid``."""
    me = f"{socket.gethostname()} {os.getpid()}"
    tmp = claim.with_name(f"{claim.name}{TMP_MARK}{os.getpid()}-{time.monotonic_ns()}")
    tmp.write_text(me + "\n", encoding="utf-8")
    try:
        for _ in range(3):
            try:
                os.link(tmp, claim)
                return None
            except FileExistsError:
                holder = _holder(claim)
                if holder is None:  # released meanwhile
                    continue
                if _holder_alive(holder) is False:
                    # A killed run's claim. Two runs taking it over at once may both unlink and
                    # both link: that only costs a video done twice.
                    with contextlib.suppress(FileNotFoundError):
                        claim.unlink()
                    continue
                return holder
            except OSError:  # no hard links here (some FUSE/SMB mounts): work unclaimed
                return None
        return _holder(claim) or None
    finally:
        tmp.unlink(missing_ok=True)


def release(claim: Path) -> None:
    """Remove our claim (only if it is still ours: a taken-over stale claim may have moved on)."""
    if _holder(claim) == f"{socket.gethostname()} {os.getpid()}":
        with contextlib.suppress(FileNotFoundError):
            claim.unlink()


def wait_released(claim: Path) -> None:
    """Poll until ``claim`` is gone, its holder dead, or the holder cannot be checked (another host)."""
    while (holder := _holder(claim)) is not None and _holder_alive(holder):
        time.sleep(POLL_SECONDS)


def remove_stale_claims(folder: Path) -> int:
    """Delete claims in ``folder`` whose holder on this host is dead; return how many."""
    removed = 0
    for claim in Path(folder).glob(f".*{CLAIM_SUFFIX}"):
        holder = _holder(claim)
        if holder is not None and _holder_alive(holder) is False:
            with contextlib.suppress(FileNotFoundError):
                claim.unlink()
            removed += 1
    return removed


def complete_items(folder: Path, names: Callable[[int], tuple[str, ...]]) -> int:
    """Items (frames, flow pairs) of a complete output folder, 0 when absent or incomplete."""
    try:
        entries = len(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    count = entries // max(len(names(1)), 1)
    return count if folder_complete(folder, count, names) else 0


@dataclass(frozen=True)
class ClaimedStep:
    """``func(task)`` run under the claim of ``task.out``; picklable for joblib and dask.

    Tasks need ``video_id``, ``out`` and ``seen`` (``folder_identity(out)`` when the run was
    planned). First pass (``wait=False``): a video claimed by a live run gives :class:`Deferred`.
    Second pass (``wait=True``): wait for the claim to go. Either way, a folder that another run
    replaced since planning and that is complete is taken as done (row note ``CONCURRENT_NOTE``).
    """

    func: Callable  # task -> ManifestRow
    names: Callable[[int], tuple[str, ...]]  # files item i owns in the output folder
    wait: bool = False

    def waiting(self) -> ClaimedStep:
        """The second-pass version of this step."""
        return replace(self, wait=True)

    def __call__(self, task) -> ManifestRow | Deferred:
        claim = claim_path(task.out)
        holder = try_claim(claim)
        if holder is not None:
            if not self.wait:
                return Deferred(task.video_id, holder)
            wait_released(claim)
            holder = try_claim(claim)  # still held (another host, or a third run): work unclaimed
        try:
            if folder_identity(task.out) != task.seen and (items := complete_items(task.out, self.names)):
                return ManifestRow(task.video_id, "done", items, 0.0, CONCURRENT_NOTE)
            return self.func(task)
        finally:
            if holder is None:
                release(claim)
