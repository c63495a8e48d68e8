"""Bring your own data: a CSV manifest with one row per paired recording (README, "Bring your own data").

Columns (header row required, any order, extra columns ignored):

* ``video``: path of the clip (anything PyAV decodes), relative to the manifest's folder or absolute;
* ``imu``: path of the IMU recording: ``.npy`` holding (time, channels), or ``.csv`` with one row per
  time step and one column per channel (an optional header row is skipped);
* ``label``: class name;
* ``subject``: integer subject id (train/test and validation subjects are chosen by subject);
* ``split`` (optional): ``train`` or ``test``; without it, ``data.test_subjects`` are the test split;
* ``id`` (optional): a sample name for messages; defaults to the row number.

Either path may be empty when a run does not use that modality. Streams are aligned on normalised time.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harlit.data.base import BadSample, SampleTable
from harlit.data.files import BadFile, FileDataModule, SampleFiles, check_imu
from harlit.errors import HarlitError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("video", "imu", "label", "subject")
SPLITS = ("train", "test")


def read_imu_file(path: str | Path) -> np.ndarray:
    """A (time, channels) IMU recording from .npy or .csv; BadFile when empty, unreadable or NaN."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise BadFile(path, f"unreadable .npy: {type(err).__name__}") from None
    elif path.suffix.lower() == ".csv":
        if path.stat().st_size == 0:
            raise BadFile(path, "empty CSV: 0 bytes")
        with open(path, newline="") as handle:
            rows = [r for r in csv.reader(handle) if r and any(c.strip() for c in r)]
        if rows and not _is_numeric(rows[0]):
            rows = rows[1:]  # a header row of channel names
        if not rows:
            raise BadFile(path, "empty CSV: no data rows")
        try:
            values = np.asarray([[float(c) for c in r] for r in rows], dtype=np.float64)
        except ValueError:
            raise BadFile(path, "unreadable CSV: non-numeric values or rows of different lengths") from None
    else:
        raise BadFile(path, f"unsupported IMU file: {path.suffix!r}, use .npy or .csv")
    if values.ndim == 1:
        values = values[:, None]
    return check_imu(values, path)


def _is_numeric(row: Sequence[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True


class ManifestDataModule(FileDataModule):
    """Paired recordings listed in a CSV manifest; see the module docstring for the format."""

    name = "manifest"
    layout_help = "a CSV manifest with the columns video, imu, label, subject and optionally split, id"

    def __init__(
        self,
        manifest: str | None,
        root: str | None = None,
        class_names: Sequence[str] | None = None,
        test_subjects: Sequence[int] = (),
        **kwargs: Any,
    ) -> None:
        if not manifest:
            raise HarlitError("data=manifest needs data.manifest; set data.manifest=path/to/manifest.csv.")
        self.manifest = Path(manifest).expanduser()
        if not self.manifest.is_file():
            raise HarlitError(
                f"data.manifest {self.manifest} does not exist; set data.manifest to your manifest CSV."
            )
        self.rows = self._read_manifest()
        labels = sorted({r["label"] for r in self.rows if r["label"]})
        self._class_names = list(class_names) if class_names else labels
        self.test_subjects = [int(s) for s in test_subjects]
        self.has_split = "split" in self.rows[0]
        if not self.has_split and not self.test_subjects:
            raise HarlitError(
                f"{self.manifest} has no split column and data.test_subjects is empty; add a split column "
                "(train/test) or set data.test_subjects."
            )
        super().__init__(root=str(root or self.manifest.parent), **kwargs)

    def _read_manifest(self) -> list[dict[str, str]]:
        with open(self.manifest, newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise HarlitError(
                    f"{self.manifest} lacks the column(s) {missing}; its header must name video, imu, label, subject "
                    "(and optionally split, id)."
                )
            rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
        if not rows:
            raise HarlitError(f"{self.manifest} lists no samples; add one row per recording.")
        for number, row in enumerate(rows, start=2):
            if not row["subject"].lstrip("-").isdigit():
                raise HarlitError(
                    f"{self.manifest} line {number}: subject {row['subject']!r} is not an integer; use integer ids."
                )
            if "split" in row and row["split"].lower() not in SPLITS:
                raise HarlitError(
                    f"{self.manifest} line {number}: split {row['split']!r} is not train or test; hold validation "
                    "subjects out with data.val_subjects."
                )
        return rows

    @property
    def class_names(self) -> list[str]:
        return list(self._class_names)

    def _resolve(self, text: str) -> Path:
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.root / path

    def discover(self) -> tuple[list[SampleFiles], list[BadSample]]:
        samples: list[SampleFiles] = []
        bad: list[BadSample] = []
        for number, row in enumerate(self.rows, start=2):
            sample_id = row.get("id") or f"row{number}"
            files: dict[str, Path] = {}
            problem = None
            for modality in self.modalities:
                if not row[modality]:
                    problem = (str(self.manifest), f"missing modality: no {modality} path on line {number}")
                    break
                files[modality] = self._resolve(row[modality])
                if not files[modality].is_file():
                    problem = (str(files[modality]), f"missing file: the {modality} file does not exist")
                    break
            if problem is None and row["label"] not in self._class_names:
                problem = (str(self.manifest), f"unknown label: {row['label']!r} is not in data.class_names")
            if problem is not None:
                bad.append(BadSample(sample_id, *problem))
                continue
            groups = {"split": SPLITS.index(row["split"].lower())} if self.has_split else {}
            samples.append(
                SampleFiles(
                    sample_id,
                    self._class_names.index(row["label"]),
                    int(row["subject"]),
                    video=files.get("video"),
                    imu=files.get("imu"),
                    groups=groups,
                )
            )
        return samples, bad

    def load_imu(self, sample: SampleFiles) -> np.ndarray:
        return read_imu_file(sample.imu)

    def split(self, table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
        if self.has_split:
            is_test = table.groups["split"] == SPLITS.index("test")
        else:
            is_test = np.isin(table.subjects, self.test_subjects)
        return np.flatnonzero(~is_test), np.flatnonzero(is_test)

    def split_setting(self) -> dict[str, Any]:
        test = (
            {"test_split": "split column"}
            if self.has_split
            else {"test_subjects": sorted(self.test_subjects)}
        )
        return {**super().split_setting(), **test}

    def split_keys(self, table: SampleTable) -> list[str]:
        if self.has_split:
            return [f"the split column of {self.manifest}"]
        found = sorted(set(table.subjects.tolist()))
        return [f"data.test_subjects={self.test_subjects} (the samples have subjects {found})"]
