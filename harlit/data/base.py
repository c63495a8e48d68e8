"""What every harlit dataset shares: the sample table, bad-sample handling, set-up and loaders.

A dataset module only has to describe its samples as a `SampleTable` (labels, subjects, in-memory IMU,
an indexable video source) and say which rows are train and test. The protocol on top of that split
(validation subjects, train-ratio subset, hidden classes, split checks) is `harlit.data.protocol`; the
training-batch augmentation is `harlit.data.augment`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from harlit.data.augment import Augmentation
from harlit.data.protocol import SplitProtocol, check_settings, resolve_hidden
from harlit.data.sampling import split_loader
from harlit.data.transforms import imu_statistics, normalise_imu
from harlit.dist import global_rank
from harlit.errors import HarlitError
from harlit.io import atomic_write_text

log = logging.getLogger(__name__)

# What serves a split's batches instead of a DataLoader: (split, dataset, batch size, shuffle) -> batches.
# harlit.fastpath serves IMU from device memory through it; None: the DataLoader of harlit.data.sampling.
BatchSource = Callable[[str, Dataset, int, bool], Iterable[dict[str, Any]]]

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
    # The recording each row comes from, when rows share one (MMAct: four cameras, one sensor recording);
    # train-ratio subsets are drawn over these, so every modality's run of a ratio sees the same recordings.
    units: np.ndarray | None = None
    # Seconds each row's recording lasts, NaN where the dataset cannot tell; the training clips' median is
    # recorded in model.pt as the default window of a timeline (harlit.timeline).
    durations: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


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
            item["imu"] = normalise_imu(self.table.imu[row], self.imu_stats)
        if "video" in self.modalities:
            item["video"] = self.table.video[row]
        for m, mask in self.absent.items():
            item[f"{m}_present"] = not bool(mask[position])
        return item


class HARDataModule(pl.LightningDataModule):
    """Base DataModule. Subclasses implement `class_names`, `build_table`, `split` and `split_keys`."""

    name = "base"
    # Samples per second of the raw IMU recordings, where the dataset knows it (durations, the record).
    imu_rate_hz: float | None = None

    def __init__(
        self,
        modalities: Sequence[str] = ("imu", "video"),
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int | None = None,
        train_ratio: float = 1.0,
        hidden_classes: Sequence[str | int] | None = None,
        hidden_from: str = "both",
        num_hidden: int = 0,
        val_subjects: Sequence[int] | None = None,
        seed: int = 0,
        imu_length: int | None = 128,
        num_frames: int = 16,
        frame_size: int = 112,
        augment: Augmentation | Mapping[str, Any] | None = None,
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
        self.prefetch_factor = None if prefetch_factor is None else int(prefetch_factor)
        if self.prefetch_factor is not None and self.prefetch_factor < 1:
            raise HarlitError(
                f"data.prefetch_factor must be a positive number of batches, not {prefetch_factor}."
            )
        self.train_ratio = float(train_ratio)
        self.hidden_from = hidden_from
        self.num_hidden = int(num_hidden or 0)
        self.val_subjects = [int(s) for s in (val_subjects or [])]
        self.seed = int(seed)
        self.imu_length = imu_length
        self.num_frames = num_frames
        self.frame_size = frame_size
        self.augment = Augmentation.of(augment)  # None: no augmentation
        self.imu_channels = imu_channels
        self.imu_devices = [list(map(int, device)) for device in (imu_devices or [])]
        self.augment.check_devices(self.imu_devices, self.imu_channels)
        if on_bad_sample not in ON_BAD_SAMPLE:
            raise HarlitError(
                f"data.on_bad_sample must be one of {list(ON_BAD_SAMPLE)}, not {on_bad_sample!r}."
            )
        self.on_bad_sample = on_bad_sample
        self.report_dir = Path(report_dir).expanduser() if report_dir else None
        self.bad_samples: list[BadSample] = []
        check_settings(self.train_ratio, hidden_from, self.modalities)
        self.hidden_classes = resolve_hidden(
            self.class_names, list(hidden_classes or []), self.num_hidden, self.seed, self.name
        )
        self.table: SampleTable | None = None
        self.train_set: TableDataset | None = None
        self.val_set: TableDataset | None = None
        self.test_set: TableDataset | None = None
        self.imu_stats: tuple[torch.Tensor, torch.Tensor] | None = None
        self.dropped: dict[str, int] = {}
        self.batch_source: BatchSource | None = None
        self.imu_cut = 0  # native-rate recordings cut to a model's training length (transforms.fit_to_length)
        self.test_only = False  # set up by setup("test") alone: IMU statistics must come from a model

    # --- to implement per dataset -------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        raise NotImplementedError

    def build_table(self, test_only: bool = False) -> SampleTable:
        """Load every sample's metadata and the modalities in `self.modalities`.

        `test_only`: the table may hold the test split's rows alone, so that evaluation reads no
        training file; a dataset that generates its samples may ignore it.
        """
        raise NotImplementedError

    def split(self, table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the training and the test split."""
        raise NotImplementedError

    def split_keys(self, table: SampleTable) -> list[str]:
        """The settings that decide `split`, as `data.key=value` hints for when a split comes out unusable."""
        return []

    def split_setting(self) -> dict[str, Any]:
        """The settings that decide which samples train, validate and test, for metrics.json: a report
        keeps runs apart that differ in any of them. Datasets add their own (subjects, cameras, ...)."""
        return {"val_subjects": sorted(self.val_subjects)}

    # --- shared logic --------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def clip_seconds(self) -> float | None:
        """The median duration (s) of the training clips whose duration is known; None when none is."""
        table, train = self.table, self.train_set
        if table is None or table.durations is None or train is None:
            return None
        known = table.durations[train.indices]
        known = known[np.isfinite(known)]
        return float(np.median(known)) if len(known) else None

    @property
    def hidden_class_names(self) -> list[str]:
        return [self.class_names[i] for i in self.hidden_classes]

    def hidden_for(self, modality: str) -> list[int]:
        """The classes hidden from `modality` in this run."""
        return self.hidden_classes if self.hidden_from in (modality, "both") else []

    def setup(self, stage: str | None = None) -> None:
        """`setup("fit")` builds every split. `setup("test")` first (evaluation) builds the test split alone:
        no training file is read, and IMU statistics come from the model (`preprocess.use_encoder_preprocessing`).
        """
        if self.table is not None:
            return
        if stage == "test":
            self._setup_test_only()
            return
        protocol = SplitProtocol(
            self.train_ratio,
            self.val_subjects,
            self.hidden_classes,
            self.hidden_from,
            self.seed,
            self.modalities,
        )
        table = self.build_table()
        splits = protocol.apply(table.labels, table.subjects, *self.split(table), units=table.units)
        self.dropped.update(splits.dropped)
        protocol.check(splits, table.labels, self.class_names, self.name, self.split_keys(table))
        if "imu" in self.modalities and table.imu is not None:
            # Only IMU the encoder may see: then stage 2 normalises exactly like its stage-1 IMU* encoder.
            self.imu_stats = imu_statistics(table.imu[torch.as_tensor(splits.seen_rows("imu"))])
        self.table = table
        rows = partial(TableDataset, table, modalities=self.modalities, imu_stats=self.imu_stats)
        self.train_set = rows(splits.train, absent=splits.train_absent)
        self.val_set = rows(splits.val, absent=splits.val_absent) if len(splits.val) else None
        self.test_set = rows(splits.test)
        log.info(
            "%s: %d train, %d val, %d test samples (train_ratio=%s dropped %d; hidden %s from %s)",
            self.name,
            len(splits.train),
            len(splits.val),
            len(splits.test),
            self.train_ratio,
            self.dropped["train_ratio"],
            self.hidden_class_names or "none",
            self.hidden_from,
        )

    def _setup_test_only(self) -> None:
        table = self.build_table(test_only=True)
        _, test = self.split(table)
        if len(test) == 0:
            hints = self.split_keys(table) or ["the protocol"]
            raise HarlitError(f"the {self.name} test split is empty; change {' or '.join(hints)}.")
        self.table = table
        self.test_only = True
        self.test_set = TableDataset(table, test, self.modalities, imu_stats=None)
        log.info("%s: %d test samples (test split only: no training file read)", self.name, len(test))

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
            target = self.report_dir / BAD_SAMPLES_FILE
            if global_rank() == 0:  # every rank finds the same bad files; one writes the list
                atomic_write_text(target, "\n".join(lines) + "\n")
            where = str(target)
        log.warning("Skipping %d bad %s sample(s) (%s); list in %s", len(bad), self.name, summary, where)
        if self.report_dir is None:
            log.warning("%s", "\n".join(lines))
        return {b.sample_id for b in bad}

    def data_loader(self, dataset: Dataset, shuffle: bool, batch_size: int) -> DataLoader:
        """The DataLoader of one split, with this datamodule's loader settings."""
        return split_loader(
            dataset,
            batch_size,
            shuffle,
            self.num_workers,
            self.pin_memory,
            self.prefetch_factor,
            seed=self.seed,
        )

    def _batches(self, split: str, dataset: Dataset, shuffle: bool, batch_size: int) -> Iterable[Any]:
        if self.batch_source is not None:
            return self.batch_source(split, dataset, batch_size, shuffle)
        return self.data_loader(dataset, shuffle, batch_size)

    def train_dataloader(self) -> Iterable[Any]:
        return self._batches("train", self.train_set, shuffle=True, batch_size=self.batch_size)

    def val_dataloader(self) -> Iterable[Any]:
        if not self.val_set:
            return []
        return self._batches("val", self.val_set, shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> Iterable[Any]:
        if self.test_only and "imu" in self.modalities and self.test_set.imu_stats is None:
            raise HarlitError(
                f"this {self.name} data was set up for testing alone, without the training IMU statistics; "
                "test a trained model through python -m harlit.evaluate model_path=<run dir>."
            )
        return self._batches("test", self.test_set, shuffle=False, batch_size=self.eval_batch_size)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        # Augment on the device the batch lives on (the GPU in production), training batches only.
        if self.trainer is None or not self.trainer.training:
            return batch
        return self.augment(batch, self.imu_devices, self.imu_stats)

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
            "imu_cut_to_trained_length": self.imu_cut,
            "hidden_chosen_by": ("data.num_hidden" if self.num_hidden else "data.hidden_classes")
            if self.hidden_classes
            else "none",
            **self.split_setting(),
        }
