"""Write-then-rename helpers: nothing half-written is ever visible under its final name."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ufsn.errors import OutputError

TMP_MARK = ".tmp-"


def output_dir(path: Path) -> Path:
    """Make the folder a step writes into (and its parents); one that cannot be made is an :class:`OutputError`
    naming it and what the OS said (``File exists`` for a file in its place, ``Not a directory`` above it)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot make the output folder {path}: {exc.strerror or exc}") from exc
    return path


def is_temporary(path: Path) -> bool:
    """True for the temporary names made here (in use, or left behind by a killed run)."""
    return TMP_MARK in path.name


def _tmp_prefix(final: Path) -> str:
    # The pid in the name lets a cleaner tell a live writer's folder from a dead one's.
    return f".{final.name}{TMP_MARK}{os.getpid()}-"


def _process_state(pid: int) -> str | None:
    """State letter of ``pid`` from /proc (``R``, ``S``, ``Z``...); None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None


def _owner_alive(path: Path) -> bool:
    try:
        pid = int(path.name.split(TMP_MARK, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` of this host may still write: it exists and is not a zombie."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's live process; /proc may still say it is a zombie
    # A SIGKILLed run's joblib workers can stay zombies (reparented to an init that never reaps,
    # as in many containers): os.kill(pid, 0) succeeds on them but they will never write again.
    # Without /proc (macOS) the signal test is all there is.
    return _process_state(pid) not in ("Z", "X")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_tmp_prefix(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``; on success it replaces ``final``.

    On an exception the temporary folder is removed and ``final`` is left as it was.
    A SIGKILL leaves only a ``.<name>.tmp-*`` folder, which resume logic ignores and
    :func:`remove_stale_temporaries` deletes.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=_tmp_prefix(final)))
    try:
        yield tmp
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``, replacing a complete ``final``, also while another writer does the same.

    rename(2) cannot replace a non-empty folder, and "remove, then rename" fails with ENOTEMPTY
    when a second writer renames its own folder in between (two runs on one dataset). So the
    current ``final`` is moved aside under a temporary name (atomic; only one writer wins) and
    the rename retried. A reader sees the old folder, no folder, or a new one; never a mix.
    """
    while True:
        try:
            os.replace(tmp, final)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        aside = Path(tempfile.mkdtemp(dir=final.parent, prefix=_tmp_prefix(final)))
        try:
            os.replace(final, aside)  # onto an empty folder: allowed
        except FileNotFoundError:  # another writer moved it first
            aside.rmdir()
            continue
        shutil.rmtree(aside, ignore_errors=True)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporaries left in ``folder`` by runs that are no longer alive; return how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.iterdir():
        if is_temporary(entry) and not _owner_alive(entry):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            removed += 1
    return removed
