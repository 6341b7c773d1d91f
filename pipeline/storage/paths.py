"""The on-disk layout of a dataset folder (README, "Data layout"), in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ufsn.errors import InputError

DATA_ENV = "UFSN_DATA"


def default_root() -> Path:
    """The data root: ``$UFSN_DATA`` when set, else ``./data``."""
    return Path(os.environ.get(DATA_ENV) or "data")


def inside(base: Path, relative: str | os.PathLike) -> Path:
    """Join ``relative`` onto ``base`` and refuse any result outside ``base``.

    Paths read from split files and indexes go through here, so that a line such as
    ``../../etc/passwd`` or ``/abs/path.avi`` can never make the toolkit touch a file
    outside the data root.
    """
    rel = Path(relative)
    if rel.is_absolute():
        raise InputError(f"absolute path not allowed here: {relative!s}")
    base_resolved = base.resolve()
    joined = (base_resolved / rel).resolve()
    if joined != base_resolved and base_resolved not in joined.parents:
        raise InputError(f"path escapes {base}: {relative!s}")
    return base / rel


def printable(path: str | os.PathLike) -> str:
    """``path`` as text that any terminal and UTF-8 file can hold (undecodable bytes as ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def require_utf8_name(path: Path) -> None:
    """Raise ValueError naming ``path`` when its name is not valid UTF-8.

    Such a name (a Latin-1 file from an old archive, say) crashes OpenCV's ``VideoCapture``
    with a segmentation fault and cannot be written to a UTF-8 manifest or split file, so it
    is refused up front with a message saying what to do.
    """
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{printable(path)}: file name is not valid UTF-8; rename the file") from None


@dataclass(frozen=True)
class DatasetPaths:
    """Every folder and file of one dataset under a data root."""

    root: Path
    dataset: str

    @property
    def base(self) -> Path:
        return Path(self.root) / self.dataset

    @property
    def videos(self) -> Path:
        return self.base / "videos"

    @property
    def flow_gt(self) -> Path:
        return self.base / "flow_gt"

    @property
    def classes_csv(self) -> Path:
        return self.base / "classes.csv"

    @property
    def frames(self) -> Path:
        return self.base / "frames"

    @property
    def tvl1(self) -> Path:
        return self.base / "tvl1"

    @property
    def shards(self) -> Path:
        return self.base / "shards"

    @property
    def splits(self) -> Path:
        return self.base / "splits"

    @property
    def manifest(self) -> Path:
        return self.base / "manifest"

    @property
    def runs(self) -> Path:
        return self.base / "runs"

    def manifest_csv(self, step: str) -> Path:
        return self.manifest / f"{step}.csv"

    def split_csv(self, k: int) -> Path:
        return self.splits / f"split{k}.csv"

    def frame_dir(self, video_id: str) -> Path:
        return self.frames / video_id

    def flow_dir(self, video_id: str) -> Path:
        return self.tvl1 / video_id

    def flow_gt_npz(self, video_id: str) -> Path:
        return self.flow_gt / f"{video_id}.npz"

    def run_dir(self, name: str) -> Path:
        return self.runs / name


def frame_name(index: int) -> str:
    """RGB frame file name, 1-indexed as in mmaction2 rawframes: ``img_00001.jpg``."""
    return f"img_{index:05d}.jpg"


def flow_names(index: int, ext: str = "jpg") -> tuple[str, str]:
    """TV-L1 file names of pair ``index`` (1-indexed): ``flow_x_00001.jpg``, ``flow_y_00001.jpg``."""
    return f"flow_x_{index:05d}.{ext}", f"flow_y_{index:05d}.{ext}"
