"""The evaluation protocol on top of a dataset's train/test split: validation subjects, the train-ratio
subset, hidden classes (zero-shot), and the check that the resulting splits can be trained and scored.

Everything here works on row indices and labels only, so the protocols behave the same on synthetic,
UTD-MHAD, MMAct and manifest data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harlit.errors import HarlitError

HIDDEN_FROM = ("imu", "video", "both")
MODALITIES = ("imu", "video")
MAX_LISTED_CLASSES = 6  # a message names at most this many classes


def check_settings(train_ratio: float, hidden_from: str, modalities: Sequence[str]) -> None:
    if not 0.0 < train_ratio <= 1.0:
        raise HarlitError(
            f"data.train_ratio must be in (0, 1], got {train_ratio}; use e.g. 0.25, 0.5, 0.75 or 1.0."
        )
    if hidden_from not in HIDDEN_FROM:
        raise HarlitError(f"data.hidden_from must be one of {list(HIDDEN_FROM)}, not {hidden_from!r}.")
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise HarlitError(f"unknown modality {unknown[0]!r}; harlit knows 'imu' and 'video'.")


def stratified_subset(indices: np.ndarray, labels: np.ndarray, ratio: float, seed: int) -> np.ndarray:
    """A seeded per-class subset: round(ratio * n_c) of each class (at least one), order preserved."""
    if ratio >= 1.0 or len(indices) == 0:
        return np.asarray(indices)
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    for cls in np.unique(labels[indices]):
        members = indices[labels[indices] == cls]
        count = max(1, math.floor(ratio * len(members) + 0.5))
        keep.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(keep))


def unit_subset(
    indices: np.ndarray, labels: np.ndarray, units: np.ndarray, ratio: float, seed: int
) -> np.ndarray:
    """`stratified_subset` over recordings shared by several rows (`units`): whole units are kept or left.

    Each unit's rank within its class is a seeded hash of its name, so the choice does not depend on
    which other units a table holds: an IMU-only table (a row per recording) and a video table (a row
    per camera of it) of one ratio and seed keep the same recordings.
    """
    if ratio >= 1.0 or len(indices) == 0:
        return np.asarray(indices)
    keep: list[str] = []
    for cls in np.unique(labels[indices]):
        members = sorted(set(units[indices[labels[indices] == cls]].tolist()))
        count = max(1, math.floor(ratio * len(members) + 0.5))
        keep += sorted(members, key=lambda unit: _unit_rank(unit, seed))[:count]
    return np.sort(indices[np.isin(units[indices], keep)])


def _unit_rank(unit: str, seed: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{unit}".encode(), digest_size=8).digest()


def choose_hidden_classes(num_classes: int, num_hidden: int, seed: int) -> list[int]:
    """`num_hidden` class indices picked deterministically from `seed`."""
    rng = np.random.default_rng([seed, 7919])  # own stream: independent of the subset and of training
    return sorted(int(i) for i in rng.choice(num_classes, size=num_hidden, replace=False))


def resolve_hidden(
    names: Sequence[str], requested: Sequence[str | int], num_hidden: int, seed: int, dataset: str
) -> list[int]:
    """The sorted class indices that data.hidden_classes (names or indices) or data.num_hidden ask for."""
    if requested and num_hidden:
        raise HarlitError("set either data.hidden_classes or data.num_hidden, not both.")
    if num_hidden:
        if not 0 < num_hidden < len(names):
            raise HarlitError(
                f"data.num_hidden={num_hidden} must be between 1 and {len(names) - 1} "
                f"({dataset} has {len(names)} classes)."
            )
        return choose_hidden_classes(len(names), num_hidden, seed)
    hidden: list[int] = []
    for item in requested:
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            index = int(item)
            if not 0 <= index < len(names):
                raise HarlitError(
                    f"hidden class index {index} is out of range for {dataset} (0..{len(names) - 1})."
                )
        elif item in names:
            index = list(names).index(item)
        else:
            raise HarlitError(f"hidden class {item!r} is not a {dataset} class; choose from {list(names)}.")
        hidden.append(index)
    if len(set(hidden)) >= len(names):
        raise HarlitError(f"data.hidden_classes hides all {len(names)} classes; leave at least one visible.")
    return sorted(set(hidden))


def apply_hidden(
    labels: np.ndarray,
    indices: np.ndarray,
    hidden: Sequence[int],
    hidden_from: str,
    modalities: Sequence[str],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Stage 1 drops hidden samples; stage 2 keeps them but marks the hidden modality absent."""
    if not hidden or len(indices) == 0:
        return indices, {}
    is_hidden = np.isin(labels[indices], hidden)
    if len(modalities) == 1 or hidden_from == "both":
        return indices[~is_hidden], {}
    return indices, {hidden_from: is_hidden}


@dataclass
class Splits:
    """Row indices of each split after the protocol, with the absent-modality masks of stage 2."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    train_absent: dict[str, np.ndarray] = field(default_factory=dict)
    val_absent: dict[str, np.ndarray] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # samples the protocol left out, by reason
    train_subjects: list[int] = field(default_factory=list)  # of the training split, validation ones included

    def seen_rows(self, modality: str) -> np.ndarray:
        """Training rows whose `modality` the model sees (stage 2 masks it on hidden-class rows)."""
        absent = self.train_absent.get(modality)
        return self.train if absent is None else self.train[~absent]


@dataclass(frozen=True)
class SplitProtocol:
    """How a run uses a dataset's train/test rows: validation subjects, train-ratio subset, hidden classes."""

    train_ratio: float
    val_subjects: Sequence[int]
    hidden: Sequence[int]
    hidden_from: str
    seed: int
    modalities: Sequence[str]

    def __post_init__(self) -> None:
        # Checked here, at set-up, not when the datamodule is built: a stage-2 run builds its stage-1
        # datamodules to look up their encoders, and one of those may not use the hidden modality.
        single = self.modalities[0] if len(self.modalities) == 1 else None
        if self.hidden and single and self.hidden_from not in (single, "both"):
            raise HarlitError(
                f"data.hidden_from={self.hidden_from} hides classes from a modality this {single}-only "
                f"run does not use; set data.hidden_from={single} or drop data.hidden_classes."
            )

    def apply(
        self,
        labels: np.ndarray,
        subjects: np.ndarray,
        train: np.ndarray,
        test: np.ndarray,
        units: np.ndarray | None = None,
    ) -> Splits:
        train_subjects = sorted(int(s) for s in set(subjects[train].tolist()))
        is_val = np.isin(subjects[train], self.val_subjects)
        val, train = train[is_val], train[~is_val]
        if units is None:
            subset = stratified_subset(train, labels, self.train_ratio, self.seed)
        else:
            subset = unit_subset(train, labels, units, self.train_ratio, self.seed)
        dropped = {"train_ratio": len(train) - len(subset)}
        train, train_absent = self._hide(labels, subset, "train", dropped)
        val, val_absent = self._hide(labels, val, "val", dropped)
        return Splits(train, val, test, train_absent, val_absent, dropped, train_subjects)

    def _hide(
        self, labels: np.ndarray, rows: np.ndarray, split: str, dropped: dict[str, int]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        kept, absent = apply_hidden(labels, rows, self.hidden, self.hidden_from, self.modalities)
        if self.hidden and len(rows) and not absent:  # stage 1: count the hidden samples that went
            dropped[f"{split}_hidden"] = len(rows) - len(kept)
        return kept, absent

    def check(
        self,
        splits: Splits,
        labels: np.ndarray,
        class_names: Sequence[str],
        dataset: str,
        split_keys: Sequence[str],
    ) -> None:
        """Fail at set-up, not after training on nothing or a test run that scores nothing.

        `split_keys` are the dataset's settings that decide its splits, as `key=value` hints. Hidden
        classes are absent from training by design, so only the visible test classes must be trained.
        Validation subjects must be training subjects: any other gives no validation data, and a mistyped
        fold would then select nothing without a word.
        """
        strangers = sorted(set(self.val_subjects) - set(splits.train_subjects))
        if strangers:
            raise HarlitError(
                f"data.val_subjects {strangers} are not training subjects of this {dataset} split, so they "
                f"give no validation data; choose them among the training subjects {splits.train_subjects}."
            )
        if len(splits.train) == 0:
            problem = "training split is empty"
        elif len(splits.test) == 0:
            problem = "test split is empty"
        else:
            trained = set(labels[splits.train].tolist()) | set(self.hidden)
            missing = sorted(set(labels[splits.test].tolist()) - trained)
            if not missing:
                return
            listed = [class_names[i] for i in missing[:MAX_LISTED_CLASSES]]
            more = f" and {len(missing) - len(listed)} more" if len(missing) > len(listed) else ""
            problem = f"training split has no sample of {', '.join(listed)}{more}, which the test split has"
        hints = list(split_keys)
        if self.val_subjects and problem.startswith("training"):
            # Validation subjects come out of training: they can empty it or take classes away.
            hints.append(f"data.val_subjects={list(self.val_subjects)}")
        hints = hints or ["the protocol"]
        change = ", ".join(hints[:-1]) + " or " + hints[-1] if len(hints) > 1 else hints[0]
        raise HarlitError(f"the {dataset} {problem}; change {change}.")
