"""Reading finished runs: every metrics.json below some folders becomes a Run, and runs form Groups.

A group is one (dataset, setup, training-data ratio, number of hidden classes); its runs are its seeds.
If a group holds two runs of one seed (a sweep repeated into the same folder), the newest metrics.json
counts.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harlit.errors import HarlitError
from harlit.report.setups import BASE_SETUPS, METRICS, ZERO_SHOT_SETUPS, setup_of

log = logging.getLogger(__name__)

# A run's metrics.json says true here when its test IMU recordings were also training recordings (MMAct
# cross_view: one sensor recording serves every camera); harlit.data.mmact writes it, the report marks it.
IMU_SEEN_KEY = "imu_test_recordings_seen_in_training"


@dataclass(frozen=True)
class GroupKey:
    dataset: str
    setup: str
    train_ratio: float
    num_hidden: int


@dataclass
class Run:
    path: Path
    key: GroupKey
    seed: int
    hidden_from: str
    hidden_classes: list[str]
    values: dict[str, float]
    mtime: float
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
    key = GroupKey(
        dataset=str(data.get("dataset", "unknown")),
        setup=setup_of(str(data["modality"]), hidden_from, len(hidden)),
        train_ratio=float(data.get("train_ratio", 1.0)),
        num_hidden=len(hidden),
    )
    values = {m: float(data[f"test/{m}"]) for m in METRICS if isinstance(data.get(f"test/{m}"), (int, float))}
    seen = bool(data.get(IMU_SEEN_KEY))
    return Run(path, key, int(data.get("seed", 0)), hidden_from, hidden, values, path.stat().st_mtime, seen)


def collect_runs(dirs: Sequence[Path]) -> tuple[list[Run], int]:
    """All runs below `dirs`, one per (group, seed): the newest wins. Returns the runs and how many were dropped."""
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
    newest: dict[tuple[GroupKey, int], Run] = {}
    for run in runs:
        slot = (run.key, run.seed)
        if slot not in newest or run.mtime > newest[slot].mtime:
            newest[slot] = run
    return list(newest.values()), len(runs) - len(newest)


def group_runs(runs: Iterable[Run]) -> list[Group]:
    """Runs by GroupKey, ordered by dataset, setup (plain before zero-shot), ratio and hidden classes."""
    groups: dict[GroupKey, Group] = {}
    for run in runs:
        groups.setdefault(run.key, Group(run.key)).runs.append(run)
    order = {s: i for i, s in enumerate([*BASE_SETUPS.values(), *ZERO_SHOT_SETUPS])}
    return sorted(
        groups.values(),
        key=lambda g: (g.key.dataset, order.get(g.key.setup, 99), g.key.train_ratio, g.key.num_hidden),
    )


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
