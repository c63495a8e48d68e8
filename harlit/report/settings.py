"""Rows that differ in a setting no table shows: split, and labelled by what.

Tables show a group's dataset, setup, variant (head, modality dropout, paper setting), training ratio and
number of hidden classes. Everything else of its setting (experiment, hidden_from, listed hidden
classes, MMAct protocol and class count, subjects, test cameras/scenes/sessions) is GroupKey.setting().
Groups are never merged across settings (their keys differ), and where two groups of one label would
share a table cell, every group of that label names the settings that differ, e.g.
'IMU (val_subjects=[3])' beside 'IMU (val_subjects=[5])'. setting_notes says in report.md what the
labels mean: whose fusion heads the rows are, a head unknown, rows split by a setting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from harlit.report.runs import NOT_RECORDED, SPLIT_KEYS, Group, GroupKey, Run
from harlit.report.setups import HARLIT_FUSION_HEAD, PAPER_FUSION_HEAD, UNKNOWN_HEAD, is_fusion

SETTING_ORDER = ("experiment", "hidden_from", "hidden_classes", *SPLIT_KEYS)  # GroupKey.setting's names


def differing(keys: Sequence[GroupKey]) -> list[str]:
    """The setting names (in GroupKey.setting order) whose values are not the same for all `keys`."""
    settings = [k.setting() for k in keys]
    names = list(dict.fromkeys(name for s in settings for name in s))
    return [n for n in names if len({s.get(n, NOT_RECORDED) for s in settings}) > 1]


def shown_settings(key: GroupKey, names: Iterable[str]) -> str:
    """' (name=value; ...)' of `key` for those of `names` its setting has (a cross_scene run has test
    scenes, no test subjects), '' for none."""
    setting = key.setting()
    parts = [f"{n}={setting[n]}" for n in names if n in setting]
    return f" ({'; '.join(parts)})" if parts else ""


def distinctions(keys: Iterable[GroupKey]) -> dict[GroupKey, str]:
    """Per key, what its label adds to tell it from the other settings shown under that label.

    A label is a row of every table (dataset and label); its groups go into cells by training ratio and
    number of hidden classes. The names that differ within any one cell are shown for every group of
    that label, so one row is one setting throughout.
    """
    rows: dict[tuple[str, str], set[GroupKey]] = defaultdict(set)
    for key in keys:
        rows[(key.dataset, replace(key, shown="").label)].add(key)
    out: dict[GroupKey, str] = {}
    for row in rows.values():
        cells: dict[tuple[float, int], list[GroupKey]] = defaultdict(list)
        for key in row:
            cells[(key.train_ratio, key.num_hidden)].append(key)
        names: list[str] = []
        for cell in cells.values():
            names += [n for n in differing(cell) if n not in names]
        names.sort(key=SETTING_ORDER.index)
        for key in row:
            out[key] = shown_settings(key, names)
    return out


def label_settings(runs: Sequence[Run]) -> list[Run]:
    """The runs with each key's `shown` set (see `distinctions`); evaluations share their runs' keys."""
    shown = distinctions({r.key for r in runs})
    return [replace(r, key=replace(r.key, shown=shown[r.key])) for r in runs]


def setting_notes(groups: Sequence[Group]) -> list[str]:
    """What report.md says about the settings of its rows: whose fusion heads they are, runs of an
    unknown head, and rows split by a setting no column shows."""
    heads = {g.key.head for g in groups if is_fusion(g.key.setup)}
    lines = []
    if heads:
        lines.append(
            f"Fusion heads: {HARLIT_FUSION_HEAD} is harlit's (the paper's concatenation and two linear "
            "layers, with BatchNorm and dropout 0.5 added), the head of every harlit stage-2 experiment; "
            f"{PAPER_FUSION_HEAD} is the paper's head as stated (two linear layers, one non-linearity), the "
            "head of the *_paper experiments. A row without a [head, p] label is its experiment's own "
            f"model: harlit's {HARLIT_FUSION_HEAD}, p=0, or in a [paper setting] row {PAPER_FUSION_HEAD}, "
            "p=0. Other heads and modality dropout p > 0 are kept apart and labelled [head, p] in every "
            "table and figure."
        )
    if any(g.key.head == UNKNOWN_HEAD for g in groups):
        lines.append(
            "[head unknown]: runs whose metrics.json does not record its head (written before harlit "
            "recorded it); they are kept apart, and not assumed to be any experiment's own head."
        )
    if any(g.key.shown for g in groups):
        lines.append(
            "Rows of one label whose runs differ in a setting no column shows (experiment, hidden_from, "
            "listed hidden classes, MMAct protocol or classes, training, validation or test subjects, test "
            "cameras, scenes or sessions) are split and name it in parentheses, e.g. (val_subjects=[3])."
        )
    return [line for text in lines for line in (text, "")]
