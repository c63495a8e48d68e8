"""The robustness table: fusion models tested again with one modality absent for every test sample.

Evaluations come from `python -m harlit.evaluate model=<run> eval.missing=[imu|video]` (metrics.json with
"evaluation": true). One row per (dataset, head, modality dropout) of fusion models trained on all the
data with nothing hidden: Top-1 with both modalities (the training runs' own tests), with IMU only (the
evaluations with video missing), with video only (IMU missing), and the drop from both to each; the
stage-1 IMU-only and video-only models of the dataset (paper's setting, all data, nothing hidden) follow
as reference rows. Evaluations of models trained on part of the data or with hidden classes are counted
as left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harlit.report.runs import Group, GroupKey, Run, group_order

# Conditions in column order: what the model sees at test, and the modalities an evaluation lacks for it.
CONDITIONS = ("both", "imu_only", "video_only")
CONDITION_LABELS = {"both": "both", "imu_only": "IMU only", "video_only": "video only"}
MISSING = {("video",): "imu_only", ("imu",): "video_only"}
# The stage-1 model each single-modality condition is compared with.
REFERENCE_SETUPS = {"imu_only": "IMU", "video_only": "RGB"}
REFERENCE_LABELS = {
    "imu_only": "IMU-only model (stage 1, reference)",
    "video_only": "video-only model (stage 1, reference)",
}


def is_full_fusion(key: GroupKey) -> bool:
    """A plain fusion model trained on all the data with nothing hidden: the models the table compares."""
    return key.setup == "IMU+RGB" and key.train_ratio == 1.0 and key.num_hidden == 0


def model_name(key: GroupKey) -> str:
    """How the table names a fusion model, e.g. 'IMU+RGB, late, p=0.3' or '..., concat_mlp, p=0 (paper's setting)'."""
    name = f"{key.setup}, {key.head}, p={key.modality_dropout:g}"
    return f"{name} (paper's setting)" if key.paper_setting else name


def paired_drop(both: Group | None, single: Group | None, metric: str = "top1") -> tuple[float, float, int]:
    """Both minus single per seed, in percentage points: mean, sample std (NaN for one seed) and n seeds.

    Only seeds with both numbers count, so with the same seeds the mean is the difference of the means.
    """
    if both is None or single is None:
        return math.nan, math.nan, 0
    present = {r.seed: r.values.get(metric, math.nan) for r in both.runs}
    absent = {r.seed: r.values.get(metric, math.nan) for r in single.runs}
    diffs = np.array([present[s] - absent[s] for s in sorted(present.keys() & absent.keys())]) * 100.0
    diffs = diffs[~np.isnan(diffs)]
    if len(diffs) == 0:
        return math.nan, math.nan, 0
    std = float(diffs.std(ddof=1)) if len(diffs) > 1 else math.nan
    return float(diffs.mean()), std, len(diffs)


@dataclass
class RobustnessRow:
    """One fusion model setting: its runs per condition (a condition without runs is absent)."""

    key: GroupKey
    cells: dict[str, Group] = field(default_factory=dict)

    def stats(self, condition: str, metric: str = "top1") -> tuple[float, float]:
        cell = self.cells.get(condition)
        return cell.stats(metric) if cell else (math.nan, math.nan)

    def seeds(self, condition: str) -> int:
        cell = self.cells.get(condition)
        return len(cell.runs) if cell else 0

    def drop(self, condition: str, metric: str = "top1") -> tuple[float, float, int]:
        return paired_drop(self.cells.get("both"), self.cells.get(condition), metric)


@dataclass
class Robustness:
    rows: list[RobustnessRow]
    references: dict[tuple[str, str], Group]  # (dataset, condition) -> the stage-1 group
    left_out: int  # evaluations of models with a training ratio < 1 or hidden classes

    @property
    def datasets(self) -> list[str]:
        return sorted({row.key.dataset for row in self.rows})


def robustness(groups: Sequence[Group], evaluations: Sequence[Run]) -> Robustness | None:
    """The table from training groups and evaluations with a modality missing; None without such evaluations."""
    used = [e for e in evaluations if is_full_fusion(e.key) and e.missing_at_test in MISSING]
    if not used:
        return None
    datasets = {e.key.dataset for e in used}
    rows: dict[GroupKey, RobustnessRow] = {}
    for g in groups:
        if is_full_fusion(g.key) and g.key.dataset in datasets:
            rows.setdefault(g.key, RobustnessRow(g.key)).cells["both"] = g
    for e in used:
        row = rows.setdefault(e.key, RobustnessRow(e.key))
        row.cells.setdefault(MISSING[e.missing_at_test], Group(e.key)).runs.append(e)
    references = {}
    for g in groups:
        for condition, setup in REFERENCE_SETUPS.items():
            plain = g.key.train_ratio == 1.0 and g.key.num_hidden == 0 and g.key.paper_setting
            if g.key.setup == setup and plain and g.key.dataset in datasets:
                references[(g.key.dataset, condition)] = g
    return Robustness(
        rows=sorted(rows.values(), key=lambda row: group_order(row.key)),
        references=references,
        left_out=len(evaluations) - len(used),
    )
