"""The robustness table: fusion models tested again with one modality absent for every test sample.

Evaluations come from `python -m harlit.evaluate model=<run> eval.missing=[imu|video]` (metrics.json with
"evaluation": true). One row per setting (GroupKey: head, modality dropout, experiment, split, ...) of
fusion models trained on all the data with nothing hidden: Top-1 with both modalities (the training runs'
own tests), with IMU only (the evaluations with video missing), with video only (IMU missing), and the
drop from both to each. The rows come in panels, one per dataset and split (a split: MMAct protocol and
class count, subjects, ...); each panel ends with its reference rows, the stage-1 IMU-only and
video-only models of that dataset and split (an experiment's own model, all data, nothing hidden).
Evaluations of models trained on part of the data or with hidden classes are counted as left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harlit.report.runs import NOT_RECORDED, Group, GroupKey, Run, group_order
from harlit.report.setups import head_label

# Conditions in column order: what the model sees at test, and the modalities an evaluation lacks for it.
CONDITIONS = ("both", "imu_only", "video_only")
CONDITION_LABELS = {"both": "both", "imu_only": "IMU only", "video_only": "video only"}
MISSING = {("video",): "imu_only", ("imu",): "video_only"}
# The stage-1 model each single-modality condition is compared with.
REFERENCE_SETUPS = {"imu_only": "IMU", "video_only": "RGB"}
REFERENCE_LABELS = {"imu_only": "IMU-only model", "video_only": "video-only model"}


def is_full_fusion(key: GroupKey) -> bool:
    """A plain fusion model trained on all the data with nothing hidden: the models the table compares."""
    return key.setup == "IMU+RGB" and key.train_ratio == 1.0 and key.num_hidden == 0


def model_name(key: GroupKey) -> str:
    """How the table names a fusion model, with whose head it is: 'IMU+RGB, concat_mlp (harlit's head),
    p=0', 'IMU+RGB, late, p=0.3', or '..., concat_mlp_paper (the paper's head), p=0 [paper setting]'."""
    name = f"{key.setup}, {head_label(key.head)}, p={key.modality_dropout:g}"
    return name + (" [paper setting]" if key.recipe == "paper" else "") + key.shown


def reference_name(condition: str, group: Group) -> str:
    """A reference row's name, with the stage-1 experiment it comes from."""
    experiment = group.key.experiment
    source = f"stage 1, reference, {experiment}" if experiment else "stage 1, reference"
    return f"{REFERENCE_LABELS[condition]} ({source}){group.key.shown}"


Panel = tuple[str, tuple[tuple[str, str], ...]]  # (dataset, split): one data setting


def panel_of(key: GroupKey) -> Panel:
    return (key.dataset, key.split)


def panel_titles(panels: Sequence[Panel]) -> dict[Panel, str]:
    """Each panel's dataset, plus the split settings that tell it from the dataset's other panels."""
    titles = {}
    for panel in panels:
        dataset, split = panel
        others = [dict(p[1]) for p in panels if p[0] == dataset]
        names = [n for n in dict(split) if len({o.get(n, NOT_RECORDED) for o in others}) > 1]
        titles[panel] = dataset + (f" ({'; '.join(f'{n}={dict(split)[n]}' for n in names)})" if names else "")
    return titles


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
    references: dict[tuple[Panel, str], Group]  # (panel, condition) -> the stage-1 group
    left_out: int  # evaluations of models with a training ratio < 1 or hidden classes

    @property
    def panels(self) -> list[Panel]:
        """The data settings of the rows, in row order."""
        return list(dict.fromkeys(panel_of(row.key) for row in self.rows))

    @property
    def titles(self) -> dict[Panel, str]:
        return panel_titles(self.panels)


def robustness(groups: Sequence[Group], evaluations: Sequence[Run]) -> Robustness | None:
    """The table from training groups and evaluations with a modality missing; None without such evaluations."""
    used = [e for e in evaluations if is_full_fusion(e.key) and e.missing_at_test in MISSING]
    if not used:
        return None
    panels = {panel_of(e.key) for e in used}
    rows: dict[GroupKey, RobustnessRow] = {}
    for g in groups:
        if is_full_fusion(g.key) and panel_of(g.key) in panels:
            rows.setdefault(g.key, RobustnessRow(g.key)).cells["both"] = g
    for e in used:
        row = rows.setdefault(e.key, RobustnessRow(e.key))
        row.cells.setdefault(MISSING[e.missing_at_test], Group(e.key)).runs.append(e)
    references: dict[tuple[Panel, str], Group] = {}
    for g in sorted(groups, key=lambda g: group_order(g.key)):  # the first in group order
        for condition, setup in REFERENCE_SETUPS.items():
            own = g.key.train_ratio == 1.0 and g.key.num_hidden == 0 and g.key.plain  # harlit's first
            if g.key.setup == setup and own and panel_of(g.key) in panels:
                references.setdefault((panel_of(g.key), condition), g)
    return Robustness(
        rows=sorted(rows.values(), key=lambda row: group_order(row.key)),
        references=references,
        left_out=len(evaluations) - len(used),
    )
