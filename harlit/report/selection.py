"""Which groups Fig. 2 (training-data ratio) and Fig. 3 (hidden-class zero-shot) show, in tables and plots.

Both take training groups only (never evaluations). Models of one setup with different heads or modality
dropout stay apart: their groups differ, and tables and figures name them by GroupKey.label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harlit.report.runs import Group, group_order
from harlit.report.setups import TABLE2_ROWS, ZERO_SHOT_BASELINE, ZERO_SHOT_SETUPS


def ratio_groups(groups: Sequence[Group]) -> list[Group]:
    """The plain setups (IMU, RGB, IMU+RGB) with nothing hidden, at every training-data ratio."""
    return [g for g in groups if g.key.num_hidden == 0 and g.key.setup in TABLE2_ROWS]


def zero_shot_groups(groups: Sequence[Group]) -> list[Group]:
    """Full-data groups of the zero-shot setups that occur, plus their nothing-hidden baselines (relabelled).

    A baseline is the plain group of the same dataset, head and modality dropout: each head's zero-shot
    setups get their own bars, never another head's.
    """
    full = [g for g in groups if g.key.train_ratio == 1.0]
    starred = {replace(g.key, num_hidden=0) for g in full if g.key.num_hidden > 0}
    out = [g for g in full if g.key.num_hidden > 0]
    for g in full:
        if g.key.num_hidden:
            continue
        for key in sorted(starred, key=group_order):
            if replace(key, setup=ZERO_SHOT_BASELINE[key.setup]) == g.key:
                out.append(Group(key, g.runs))
    order = {s: i for i, s in enumerate(ZERO_SHOT_SETUPS)}
    return sorted(out, key=lambda g: (g.key.dataset, order[g.key.setup], group_order(g.key)))
