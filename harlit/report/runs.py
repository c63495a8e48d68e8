"""Reading finished runs: every metrics.json below some folders becomes a Run, and runs form Groups.

A group is one (dataset, setup, training-data ratio, number of hidden classes, head, modality dropout);
its runs are its seeds. A metrics.json without "head" (an older run) has the paper's head (concat_mlp for
fusion, linear for stage 1), one without "modality_dropout" has 0. If a group holds two runs of one seed
(a sweep repeated into the same folder), the newest metrics.json counts.

A metrics.json of `python -m harlit.evaluate` ("evaluation": true) is a Run with `missing_at_test` set
(the modalities absent for every test sample, () for none); it keeps its training run's GroupKey but is
never a training run: split_evaluations keeps evaluations out of the groups of Table 2, Fig. 2 and Fig. 3.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harlit.constants import IMU_SEEN_KEY
from harlit.errors import HarlitError
from harlit.report.setups import (
    BASE_SETUPS,
    METRICS,
    ZERO_SHOT_SETUPS,
    default_head,
    head_rank,
    setup_of,
    variant_name,
)

log = logging.getLogger(__name__)

# A run's metrics.json says true here when its test IMU recordings were also training recordings (MMAct
# cross_view: one sensor recording serves every camera); harlit.data.mmact writes it, the report marks it.


@dataclass(frozen=True)
class GroupKey:
    dataset: str
    setup: str
    train_ratio: float
    num_hidden: int
    head: str
    modality_dropout: float
    recipe: str = "harlit"  # "paper": a *_paper experiment (the paper's stated preprocessing and training)

    @property
    def paper_setting(self) -> bool:
        """Whether the model is the paper's: its default head (concat_mlp for fusion) and no modality dropout."""
        return self.head == default_head(self.setup) and self.modality_dropout == 0

    @property
    def variant(self) -> str:
        """'' for the paper's model setting, else e.g. 'late, p=0.3'; runs of a *_paper experiment say so."""
        variant = "" if self.paper_setting else variant_name(self.head, self.modality_dropout)
        if self.recipe == "paper":
            return f"paper setting, {variant}" if variant else "paper setting"
        return variant

    @property
    def label(self) -> str:
        """The setup as tables and figures name it: 'IMU+RGB', or 'IMU+RGB [late, p=0.3]' off the paper's setting."""
        return f"{self.setup} [{self.variant}]" if self.variant else self.setup


@dataclass
class Run:
    path: Path
    key: GroupKey
    seed: int
    hidden_from: str
    hidden_classes: list[str]
    values: dict[str, float]
    mtime: float
    missing_at_test: tuple[str, ...] | None = None  # an evaluation's absent modalities; None: a training run

    @property
    def is_evaluation(self) -> bool:
        return self.missing_at_test is not None

    imu_seen: bool = False  # IMU_SEEN_KEY


@dataclass
class Group:
    key: GroupKey
    runs: list[Run] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs)

    @property
    def imu_seen(self) -> bool:
        """Whether any of its runs tested on IMU recordings it also trained on."""
        return any(r.imu_seen for r in self.runs)

    def stats(self, metric: str) -> tuple[float, float]:
        """Mean and sample std (ddof=1) in %, NaN where undefined (a missing metric, or one seed's std)."""
        values = np.array([r.values.get(metric, math.nan) for r in self.runs], dtype=float) * 100.0
        values = values[~np.isnan(values)]
        if len(values) == 0:
            return math.nan, math.nan
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def read_run(path: Path) -> Run | None:
    """One metrics.json as a Run, or None (with a warning) when it is not a finished harlit test."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        log.warning("Skipping %s: unreadable (%s).", path, err)
        return None
    if not isinstance(data, dict) or "test/top1" not in data or "modality" not in data:
        log.warning("Skipping %s: no test/top1 or modality, not a finished harlit run.", path)
        return None
    hidden = list(data.get("hidden_classes") or [])
    hidden_from = str(data.get("hidden_from") or "none")
    setup = setup_of(str(data["modality"]), hidden_from, len(hidden))
    key = GroupKey(
        dataset=str(data.get("dataset", "unknown")),
        setup=setup,
        train_ratio=float(data.get("train_ratio", 1.0)),
        num_hidden=len(hidden),
        head=str(data.get("head") or default_head(setup)),
        modality_dropout=float(data.get("modality_dropout") or 0.0),
        recipe="paper" if str(data.get("name") or "").endswith("_paper") else "harlit",
    )
    values = {m: float(data[f"test/{m}"]) for m in METRICS if isinstance(data.get(f"test/{m}"), (int, float))}
    missing = tuple(sorted(data.get("missing_at_test") or [])) if data.get("evaluation") else None
    seen = bool(data.get(IMU_SEEN_KEY))
    return Run(
        path, key, int(data.get("seed", 0)), hidden_from, hidden, values, path.stat().st_mtime, missing, seen
    )


def collect_runs(dirs: Sequence[Path]) -> tuple[list[Run], int]:
    """All runs below `dirs`, one per (group, seed, missing_at_test): the newest wins.

    Returns the runs (evaluations included, see split_evaluations) and how many were dropped.
    """
    for d in dirs:
        if not d.is_dir():
            raise HarlitError(f"{d} is not a directory; give the output folder of a run or a sweep.")
    paths = sorted({p.resolve() for d in dirs for p in d.rglob("metrics.json")})
    runs = [r for r in (read_run(p) for p in paths) if r is not None]
    if not runs:
        names = ", ".join(str(d) for d in dirs)
        raise HarlitError(
            f"no finished runs (metrics.json with test metrics) below {names}; run an experiment first "
            f"or point harlit.report at its output folder."
        )
    newest: dict[tuple[GroupKey, int, tuple[str, ...] | None], Run] = {}
    for run in runs:
        slot = (run.key, run.seed, run.missing_at_test)
        if slot not in newest or run.mtime > newest[slot].mtime:
            newest[slot] = run
    return list(newest.values()), len(runs) - len(newest)


def split_evaluations(runs: Iterable[Run]) -> tuple[list[Run], list[Run], int]:
    """(training runs, evaluations with a modality missing, number of evaluations with none missing).

    An evaluation with both modalities present repeats its training run's own test, so it is not used.
    """
    runs = list(runs)
    training = [r for r in runs if not r.is_evaluation]
    missing = [r for r in runs if r.is_evaluation and r.missing_at_test]
    return training, missing, len(runs) - len(training) - len(missing)


def group_order(key: GroupKey) -> tuple:
    """Dataset, setup (plain before zero-shot), head (the paper's first), dropout, ratio, hidden classes."""
    order = {s: i for i, s in enumerate([*BASE_SETUPS.values(), *ZERO_SHOT_SETUPS])}
    return (
        key.dataset,
        order.get(key.setup, 99),
        not key.paper_setting,
        head_rank(key.head),
        key.modality_dropout,
        key.train_ratio,
        key.num_hidden,
    )


def group_runs(runs: Iterable[Run]) -> list[Group]:
    """Runs by GroupKey, in group_order."""
    groups: dict[GroupKey, Group] = {}
    for run in runs:
        groups.setdefault(run.key, Group(run.key)).runs.append(run)
    return sorted(groups.values(), key=lambda g: group_order(g.key))


def shared_overrides(runs: Sequence[Run]) -> list[str]:
    """Command-line overrides every run had (from Hydra's .hydra/overrides.yaml), to document the settings."""
    import yaml

    common: list[str] | None = None
    for run in runs:
        source = run.path.parent / ".hydra" / "overrides.yaml"
        if not source.is_file():
            continue
        mine = [str(o) for o in yaml.safe_load(source.read_text()) or [] if not str(o).startswith("hydra.")]
        common = mine if common is None else [o for o in common if o in mine]
    return common or []
