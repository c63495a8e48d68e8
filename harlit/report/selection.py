"""Which groups Fig. 2 (training-data ratio) and Fig. 3 (hidden-class zero-shot) show, in tables and plots."""

from __future__ import annotations

from collections.abc import Sequence

from harlit.report.runs import Group, GroupKey
from harlit.report.setups import TABLE2_ROWS, ZERO_SHOT_BASELINE, ZERO_SHOT_SETUPS


def ratio_groups(groups: Sequence[Group]) -> list[Group]:
    """The plain setups (IMU, RGB, IMU+RGB) with nothing hidden, at every training-data ratio."""
    return [g for g in groups if g.key.num_hidden == 0 and g.key.setup in TABLE2_ROWS]


def zero_shot_groups(groups: Sequence[Group]) -> list[Group]:
    """Full-data groups of the zero-shot setups that occur, plus their nothing-hidden baselines (relabelled)."""
    full = [g for g in groups if g.key.train_ratio == 1.0]
    starred = {(g.key.dataset, g.key.setup) for g in full if g.key.num_hidden > 0}
    out = [g for g in full if g.key.num_hidden > 0]
    for g in full:
        if g.key.num_hidden:
            continue
        for dataset, setup in sorted(starred):
            if dataset == g.key.dataset and ZERO_SHOT_BASELINE[setup] == g.key.setup:
                out.append(Group(GroupKey(dataset, setup, 1.0, 0), g.runs))
    order = {s: i for i, s in enumerate(ZERO_SHOT_SETUPS)}
    return sorted(out, key=lambda g: (g.key.dataset, order[g.key.setup], g.key.num_hidden))
