"""Reading finished runs: every metrics.json below some folders becomes a Run, and runs form Groups.

A group is one setting; its runs are its seeds. A setting is everything a run's metrics.json records
that decides what was trained and tested (GroupKey): the dataset and how it is split (MMAct protocol and
class count; training, validation and test subjects, or test cameras, scenes, sessions), the experiment
(its name), the setup (modality and the classes hidden from which modality), the head and modality
dropout, and the training-data ratio. A metrics.json without "head" (an older run) has head "unknown",
never assumed; one without "modality_dropout" has 0; a split setting it does not record is "not
recorded". Classes hidden by data.num_hidden are picked from the seed, so their names are not part of
the setting (the count is); classes listed in data.hidden_classes are.

One run is counted once: the registry's copy of a stage-1 run's metrics.json (it names its run in
"source_run"), beside the run's own, is the same run. If a group holds two runs of one seed (a sweep
repeated into the same folder), the newest metrics.json counts and the others are counted as dropped.

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
from typing import Any

import numpy as np

from harlit.constants import IMU_SEEN_KEY
from harlit.errors import HarlitError
from harlit.report.setups import (
    BASE_SETUPS,
    METRICS,
    PAPER_SUFFIX,
    UNKNOWN_HEAD,
    ZERO_SHOT_SETUPS,
    default_head,
    head_rank,
    setup_of,
    variant_name,
)

log = logging.getLogger(__name__)

# A run's metrics.json says true here when its test IMU recordings were also training recordings (MMAct
# cross_view: one sensor recording serves every camera); harlit.data.mmact writes it, the report marks it.


# What a metrics.json records about how its data was split, in the order the report names them.
SPLIT_KEYS = (
    "protocol",
    "classes",
    "train_subjects",
    "val_subjects",
    "test_subjects",
    "test_cams",
    "test_scenes",
    "test_sessions",
    "test_split",
)
NOT_RECORDED = "not recorded"


def shown_value(value: Any) -> str:
    """A setting's value as the report writes it: lists as [1, 3], anything else as itself."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class GroupKey:
    dataset: str
    setup: str
    train_ratio: float
    num_hidden: int
    head: str
    modality_dropout: float
    experiment: str = ""  # the run's name: its experiment ("" when not recorded)
    hidden_from: str = "none"
    hidden_classes: tuple[str, ...] = ()  # listed in data.hidden_classes; () when picked from the seed
    split: tuple[tuple[str, str], ...] = ()  # (SPLIT_KEYS name, shown value), as the run recorded them
    # What tells this group apart from others shown under the same label (harlit.report.settings), e.g.
    # " (val_subjects=[3])"; not part of the setting, so it takes no part in comparisons.
    shown: str = field(default="", compare=False)

    @property
    def recipe(self) -> str:
        """'paper' for a *_paper experiment (the paper's stated setting), else 'harlit'."""
        return "paper" if self.experiment.endswith(PAPER_SUFFIX) else "harlit"

    @property
    def plain(self) -> bool:
        """Whether the model is its experiment's own: the default head (harlit's concat_mlp for fusion, the
        paper's concat_mlp_paper in a *_paper experiment, linear for stage 1) and no modality dropout."""
        return self.head == default_head(self.setup, self.recipe) and self.modality_dropout == 0

    def setting(self) -> dict[str, str]:
        """The parts of the setting that no table column or label shows, by name, as the report writes them."""
        out = {"experiment": self.experiment or NOT_RECORDED, "hidden_from": self.hidden_from}
        if self.hidden_classes:
            out["hidden_classes"] = shown_value(self.hidden_classes)
        return {**out, **dict(self.split)}

    @property
    def variant(self) -> str:
        """'' for an experiment's own model, else e.g. 'late, p=0.3'; runs of a *_paper experiment say
        'paper setting'."""
        variant = "" if self.plain else variant_name(self.head, self.modality_dropout)
        if self.recipe == "paper":
            return f"paper setting, {variant}" if variant else "paper setting"
        return variant

    @property
    def label(self) -> str:
        """The setup as tables and figures name it: 'IMU+RGB', 'IMU+RGB [late, p=0.3]', plus what tells it
        apart from another setting of that label, e.g. 'IMU+RGB (protocol=cross_scene)'."""
        return (f"{self.setup} [{self.variant}]" if self.variant else self.setup) + self.shown


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
    imu_seen: bool = False  # IMU_SEEN_KEY
    source: str = ""  # the run folder it recorded (run_dir, or source_run for a registry's copy)
    copy: bool = False  # a registry's copy of a stage-1 run's metrics.json

    @property
    def is_evaluation(self) -> bool:
        return self.missing_at_test is not None


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
    listed = hidden and data.get("hidden_chosen_by") == "data.hidden_classes"
    key = GroupKey(
        dataset=str(data.get("dataset", "unknown")),
        setup=setup,
        train_ratio=float(data.get("train_ratio", 1.0)),
        num_hidden=len(hidden),
        head=str(data.get("head") or UNKNOWN_HEAD),
        modality_dropout=float(data.get("modality_dropout") or 0.0),
        experiment=str(data.get("name") or ""),
        hidden_from=hidden_from,
        hidden_classes=tuple(sorted(hidden)) if listed else (),
        split=split_of(data),
    )
    values = {m: float(data[f"test/{m}"]) for m in METRICS if isinstance(data.get(f"test/{m}"), (int, float))}
    missing = tuple(sorted(data.get("missing_at_test") or [])) if data.get("evaluation") else None
    seen = bool(data.get(IMU_SEEN_KEY))
    source = str(data.get("source_run") or data.get("run_dir") or path.parent)
    return Run(
        path,
        key,
        int(data.get("seed", 0)),
        hidden_from,
        hidden,
        values,
        path.stat().st_mtime,
        missing,
        seen,
        source,
        copy="source_run" in data,
    )


def split_of(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The split settings a metrics.json records (MMAct's protocol and class count; the subjects, or the
    test cameras, scenes or sessions). Every run records its validation subjects now; an older run that
    does not is 'not recorded', never assumed to have none."""
    recorded = {k: shown_value(data[k]) for k in SPLIT_KEYS if data.get(k) is not None}
    recorded.setdefault("val_subjects", NOT_RECORDED)
    return tuple((k, recorded[k]) for k in SPLIT_KEYS if k in recorded)


@dataclass
class Collected:
    """The runs below some folders, each counted once, and what was left out."""

    runs: list[Run]
    dropped: int  # older runs of a seed whose group holds a newer one
    copies: int  # second copies of one run (a registry's metrics.json beside the run's own)


def collect_runs(dirs: Sequence[Path]) -> Collected:
    """All runs below `dirs`: each run once, then one per (group, seed, missing_at_test), the newest.

    The runs include evaluations (see split_evaluations).
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
    once: dict[str, Run] = {}
    for run in runs:  # a run's own metrics.json before a registry's copy of it
        if run.source not in once or once[run.source].copy and not run.copy:
            once[run.source] = run
    newest: dict[tuple[GroupKey, int, tuple[str, ...] | None], Run] = {}
    for run in once.values():
        slot = (run.key, run.seed, run.missing_at_test)
        if slot not in newest or run.mtime > newest[slot].mtime:
            newest[slot] = run
    return Collected(list(newest.values()), len(once) - len(newest), len(runs) - len(once))


def split_evaluations(runs: Iterable[Run]) -> tuple[list[Run], list[Run], int]:
    """(training runs, evaluations with a modality missing, number of evaluations with none missing).

    An evaluation with both modalities present repeats its training run's own test, so it is not used.
    """
    runs = list(runs)
    training = [r for r in runs if not r.is_evaluation]
    missing = [r for r in runs if r.is_evaluation and r.missing_at_test]
    return training, missing, len(runs) - len(training) - len(missing)


def group_order(key: GroupKey) -> tuple:
    """Dataset, setup (plain before zero-shot), an experiment's own model first (harlit's before the paper
    setting), head, dropout, ratio, hidden classes, then the rest of the setting."""
    order = {s: i for i, s in enumerate([*BASE_SETUPS.values(), *ZERO_SHOT_SETUPS])}
    return (
        key.dataset,
        order.get(key.setup, 99),
        not key.plain,
        key.recipe == "paper",
        head_rank(key.head),
        key.modality_dropout,
        key.train_ratio,
        key.num_hidden,
        key.experiment,
        key.hidden_from,
        key.hidden_classes,
        key.split,
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
