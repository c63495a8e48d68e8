"""What every harlit dataset shares: subject splits, the train-ratio subset, hidden classes, loaders.

A dataset module only has to describe its samples as a `SampleTable` (labels, subjects, in-memory IMU,
an indexable video source) and say which rows are train and test. Everything else lives here, so the
protocols behave the same on synthetic, UTD-MHAD, MMAct and manifest data.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from harlit.data.transforms import augment_imu, augment_video, rotate_imu
from harlit.errors import HarlitError

log = logging.getLogger(__name__)

HIDDEN_FROM = ("imu", "video", "both")
ON_BAD_SAMPLE = ("fail", "skip")
BAD_SAMPLES_FILE = "bad_samples.txt"


@dataclass(frozen=True)
class BadSample:
    """One sample that cannot be loaded: the file at fault and why, in a few words."""

    sample_id: str
    path: str
    reason: str


class VideoSource(Protocol):
    """Indexable clips: `source[i]` is a uint8 tensor (3, T, H, W) for row i of the table."""

    def __getitem__(self, index: int) -> torch.Tensor: ...


@dataclass
class SampleTable:
    """All samples of a dataset, one row each. IMU is resampled and held in memory."""

    labels: np.ndarray
    subjects: np.ndarray
    ids: list[str]
    imu: torch.Tensor | None = None  # (N, channels, length), float32
    video: VideoSource | None = None
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. cam/scene/session for protocols

    def __len__(self) -> int:
        return len(self.labels)


def stratified_subset(indices: np.ndarray, labels: np.ndarray, ratio: float, seed: int) -> np.ndarray:
    """A seeded per-class subset: round(ratio * n_c) of each class (at least one), order preserved."""
    if ratio >= 1.0:
        return np.asarray(indices)
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    for cls in np.unique(labels[indices]):
        members = indices[labels[indices] == cls]
        count = max(1, math.floor(ratio * len(members) + 0.5))
        keep.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(keep))


def choose_hidden_classes(num_classes: int, num_hidden: int, seed: int) -> list[int]:
    """`num_hidden` class indices picked deterministically from `seed`."""
    rng = np.random.default_rng([seed, 7919])  # own stream: independent of the subset and of training
    return sorted(int(i) for i in rng.choice(num_classes, size=num_hidden, replace=False))


class TableDataset(Dataset):
    """Rows of a SampleTable as dicts of tensors; `absent[m]` marks rows whose modality m is hidden."""

    def __init__(
        self,
        table: SampleTable,
        indices: np.ndarray,
        modalities: Sequence[str],
        imu_stats: tuple[torch.Tensor, torch.Tensor] | None,
        absent: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.table = table
        self.indices = np.asarray(indices, dtype=np.int64)
        self.modalities = tuple(modalities)
        self.imu_stats = imu_stats
        self.absent = absent or {}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        row = int(self.indices[position])
        item: dict[str, Any] = {"label": int(self.table.labels[row]), "index": row}
        if "imu" in self.modalities:
            imu = self.table.imu[row]
            if self.imu_stats is not None:
                imu = (imu - self.imu_stats[0]) / self.imu_stats[1]
            item["imu"] = imu
        if "video" in self.modalities:
            item["video"] = self.table.video[row]
        for m, mask in self.absent.items():
            item[f"{m}_present"] = not bool(mask[position])
        return item


class HARDataModule(pl.LightningDataModule):
    """Base DataModule. Subclasses implement `class_names`, `build_table` and `split`."""

    name = "base"

    def __init__(
        self,
        modalities: Sequence[str] = ("imu", "video"),
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        train_ratio: float = 1.0,
        hidden_classes: Sequence[str | int] | None = None,
        hidden_from: str = "both",
        num_hidden: int = 0,
        val_subjects: Sequence[int] | None = None,
        seed: int = 0,
        imu_length: int = 128,
        num_frames: int = 16,
        frame_size: int = 112,
        augment: dict[str, Any] | None = None,
        imu_channels: int | None = None,
        imu_devices: Sequence[Sequence[int]] | None = None,
        on_bad_sample: str = "fail",
        report_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.train_ratio = float(train_ratio)
        self.hidden_from = hidden_from
        self.num_hidden = int(num_hidden or 0)
        self.val_subjects = [int(s) for s in (val_subjects or [])]
        self.seed = int(seed)
        self.imu_length = imu_length
        self.num_frames = num_frames
        self.frame_size = frame_size
        self.augment = dict(augment or {})
        self.imu_channels = imu_channels
        self.imu_devices = [list(map(int, device)) for device in (imu_devices or [])]
        self._check_rotation_setup()
        if on_bad_sample not in ON_BAD_SAMPLE:
            raise HarlitError(
                f"data.on_bad_sample must be one of {list(ON_BAD_SAMPLE)}, not {on_bad_sample!r}."
            )
        self.on_bad_sample = on_bad_sample
        self.report_dir = Path(report_dir).expanduser() if report_dir else None
        self.bad_samples: list[BadSample] = []
        self._hidden_request = list(hidden_classes or [])
        if not 0.0 < self.train_ratio <= 1.0:
            raise HarlitError(
                f"data.train_ratio must be in (0, 1], got {train_ratio}; use e.g. 0.25, 0.5, 0.75 or 1.0."
            )
        if hidden_from not in HIDDEN_FROM:
            raise HarlitError(f"data.hidden_from must be one of {list(HIDDEN_FROM)}, not {hidden_from!r}.")
        unknown = [m for m in self.modalities if m not in ("imu", "video")]
        if unknown:
            raise HarlitError(f"unknown modality {unknown[0]!r}; harlit knows 'imu' and 'video'.")
        self.hidden_classes = self._resolve_hidden()
        self.table: SampleTable | None = None
        self.train_set: TableDataset | None = None
        self.val_set: TableDataset | None = None
        self.test_set: TableDataset | None = None
        self.imu_stats: tuple[torch.Tensor, torch.Tensor] | None = None
        self.dropped: dict[str, int] = {}

    def _check_rotation_setup(self) -> None:
        if float(self.augment.get("imu_rotation", 0.0)) <= 0:
            return
        if not self.imu_devices:
            raise HarlitError(
                "data.augment.imu_rotation needs data.imu_devices, the xyz channel triplets of each rigid "
                "sensor (e.g. [[0, 1, 2, 3, 4, 5]] for one accelerometer + gyroscope); set it or the rotation to 0."
            )
        for device in self.imu_devices:
            outside = [c for c in device if self.imu_channels is not None and not 0 <= c < self.imu_channels]
            if len(device) % 3 or len(set(device)) != len(device) or outside:
                raise HarlitError(
                    f"data.imu_devices entry {device} must list distinct channel indices below "
                    f"data.imu_channels ({self.imu_channels}) in xyz triplets."
                )

    # --- to implement per dataset -------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        raise NotImplementedError

    def build_table(self) -> SampleTable:
        """Load every sample's metadata and the modalities in `self.modalities`."""
        raise NotImplementedError

    def split(self, table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the training and the test split."""
        raise NotImplementedError

    # --- shared logic --------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _resolve_hidden(self) -> list[int]:
        names = self.class_names
        if self._hidden_request and self.num_hidden:
            raise HarlitError("set either data.hidden_classes or data.num_hidden, not both.")
        if self.num_hidden:
            if not 0 < self.num_hidden < len(names):
                raise HarlitError(
                    f"data.num_hidden={self.num_hidden} must be between 1 and {len(names) - 1} "
                    f"({self.name} has {len(names)} classes)."
                )
            return choose_hidden_classes(len(names), self.num_hidden, self.seed)
        hidden: list[int] = []
        for item in self._hidden_request:
            if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
                index = int(item)
                if not 0 <= index < len(names):
                    raise HarlitError(
                        f"hidden class index {index} is out of range for {self.name} (0..{len(names) - 1})."
                    )
            elif item in names:
                index = names.index(item)
            else:
                raise HarlitError(f"hidden class {item!r} is not a {self.name} class; choose from {names}.")
            hidden.append(index)
        if len(set(hidden)) >= len(names):
            raise HarlitError(
                f"data.hidden_classes hides all {len(names)} classes; leave at least one visible."
            )
        return sorted(set(hidden))

    @property
    def hidden_class_names(self) -> list[str]:
        return [self.class_names[i] for i in self.hidden_classes]

    def hidden_for(self, modality: str) -> list[int]:
        """The classes hidden from `modality` in this run."""
        return self.hidden_classes if self.hidden_from in (modality, "both") else []

    def setup(self, stage: str | None = None) -> None:
        if self.table is not None:
            return
        if (
            self.hidden_classes
            and len(self.modalities) == 1
            and self.hidden_from not in (self.modalities[0], "both")
        ):
            raise HarlitError(
                f"data.hidden_from={self.hidden_from} hides classes from a modality this {self.modalities[0]}-only "
                f"run does not use; set data.hidden_from={self.modalities[0]} or drop data.hidden_classes."
            )
        table = self.build_table()
        train_idx, test_idx = self.split(table)
        is_val = np.isin(table.subjects[train_idx], self.val_subjects)
        val_idx, train_idx = train_idx[is_val], train_idx[~is_val]
        if len(train_idx) == 0:
            raise HarlitError(
                f"the {self.name} training split is empty; check data.val_subjects and the protocol."
            )
        full = len(train_idx)
        train_idx = stratified_subset(train_idx, table.labels, self.train_ratio, self.seed)
        self.dropped["train_ratio"] = full - len(train_idx)
        train_idx, train_absent = self._apply_hidden(table, train_idx, "train")
        val_idx, val_absent = self._apply_hidden(table, val_idx, "val")
        if "imu" in self.modalities and table.imu is not None:
            # Only IMU the encoder may see: then stage 2 normalises exactly like its stage-1 IMU* encoder.
            imu_rows = train_idx[~train_absent["imu"]] if "imu" in train_absent else train_idx
            self.imu_stats = self._imu_statistics(table.imu[torch.as_tensor(imu_rows)])
        self.table = table
        self.train_set = TableDataset(table, train_idx, self.modalities, self.imu_stats, train_absent)
        self.val_set = (
            TableDataset(table, val_idx, self.modalities, self.imu_stats, val_absent)
            if len(val_idx)
            else None
        )
        self.test_set = TableDataset(table, test_idx, self.modalities, self.imu_stats)
        log.info(
            "%s: %d train, %d val, %d test samples (train_ratio=%s dropped %d; hidden %s from %s)",
            self.name,
            len(train_idx),
            len(val_idx),
            len(test_idx),
            self.train_ratio,
            self.dropped["train_ratio"],
            self.hidden_class_names or "none",
            self.hidden_from,
        )

    def _apply_hidden(
        self, table: SampleTable, indices: np.ndarray, split: str
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Stage 1 drops hidden samples; stage 2 keeps them but marks the hidden modality absent."""
        if not self.hidden_classes or len(indices) == 0:
            return indices, {}
        is_hidden = np.isin(table.labels[indices], self.hidden_classes)
        single = len(self.modalities) == 1
        if single or self.hidden_from == "both":
            self.dropped[f"{split}_hidden"] = int(is_hidden.sum())
            return indices[~is_hidden], {}
        return indices, {self.hidden_from: is_hidden}

    def handle_bad_samples(self, bad: Sequence[BadSample]) -> set[str]:
        """Fail with one message listing every bad sample, or (on_bad_sample=skip) write the list down.

        Returns the ids of the samples to leave out. The skip list, with counts per reason, goes to
        `report_dir/bad_samples.txt` (the run directory), so nothing is dropped silently.
        """
        if not bad:
            return set()
        counts = Counter(b.reason.split(":")[0] for b in bad)
        summary = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
        listing = "\n".join(f"  {b.path}: {b.reason}" for b in bad)
        if self.on_bad_sample == "fail":
            raise HarlitError(
                f"{len(bad)} bad {self.name} sample(s) ({summary}); fix or remove these files, or set "
                f"data.on_bad_sample=skip to train without them:\n{listing}"
            )
        self.bad_samples = list(bad)
        self.dropped["bad_samples"] = len({b.sample_id for b in bad})
        lines = [f"# {len(bad)} bad {self.name} sample file(s) skipped (data.on_bad_sample=skip)"]
        lines += [f"# {n}\t{reason}" for reason, n in counts.most_common()]
        lines += [f"{b.sample_id}\t{b.path}\t{b.reason}" for b in bad]
        where = "the log only (no data.report_dir)"
        if self.report_dir is not None:
            self.report_dir.mkdir(parents=True, exist_ok=True)
            target = self.report_dir / BAD_SAMPLES_FILE
            target.write_text("\n".join(lines) + "\n")
            where = str(target)
        log.warning("Skipping %d bad %s sample(s) (%s); list in %s", len(bad), self.name, summary, where)
        if self.report_dir is None:
            log.warning("%s", "\n".join(lines))
        return {b.sample_id for b in bad}

    @staticmethod
    def _imu_statistics(imu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = imu.mean(dim=(0, 2), keepdim=False).view(-1, 1)
        std = imu.std(dim=(0, 2)).clamp_min(1e-6).view(-1, 1)
        return mean, std

    def _loader(self, dataset: Dataset, shuffle: bool, batch_size: int) -> DataLoader:
        from harlit.data.sampling import evaluation_sampler

        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            # Under DDP each rank evaluates its own share once, without DistributedSampler's padding.
            sampler=None if shuffle else evaluation_sampler(dataset),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            drop_last=shuffle and len(dataset) > batch_size,  # BatchNorm in the heads needs > 1 sample
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        return (
            self._loader(self.val_set, shuffle=False, batch_size=self.eval_batch_size) if self.val_set else []
        )

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False, batch_size=self.eval_batch_size)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        # Augment on the device the batch lives on (the GPU in production), training batches only.
        if self.trainer is None or not self.trainer.training:
            return batch
        if "video" in batch and (
            self.augment.get("video_flip") or self.augment.get("video_crop_scale", 1.0) < 1.0
        ):
            batch["video"] = augment_video(
                batch["video"],
                bool(self.augment.get("video_flip")),
                float(self.augment.get("video_crop_scale", 1.0)),
            )
        if "imu" in batch and self.augment.get("imu_rotation", 0.0) > 0:
            batch["imu"] = rotate_imu(
                batch["imu"], self.imu_devices, float(self.augment["imu_rotation"]), self.imu_stats
            )
        if "imu" in batch and (
            self.augment.get("imu_jitter", 0)
            or self.augment.get("imu_scale", 0)
            or self.augment.get("imu_crop_scale", 1.0) < 1.0
        ):
            batch["imu"] = augment_imu(
                batch["imu"],
                float(self.augment.get("imu_jitter", 0)),
                float(self.augment.get("imu_scale", 0)),
                float(self.augment.get("imu_crop_scale", 1.0)),
            )
        return batch

    def describe(self) -> dict[str, Any]:
        """What a run's metrics.json records about its data."""
        return {
            "dataset": self.name,
            "train_ratio": self.train_ratio,
            "hidden_classes": self.hidden_class_names,
            "hidden_from": self.hidden_from if self.hidden_classes else "none",
            "num_train": len(self.train_set) if self.train_set else 0,
            "num_val": len(self.val_set) if self.val_set else 0,
            "num_test": len(self.test_set) if self.test_set else 0,
            "dropped": dict(self.dropped),
            "bad_samples": len(self.bad_samples),
        }
