"""Which groups Fig. 2 (training-data ratio) and Fig. 3 (hidden-class zero-shot) show, in tables and plots.

Both take training groups only (never evaluations). Models of one setup with different heads, modality
dropout or any other setting stay apart: their groups differ, and tables and figures name them by
GroupKey.label.
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

    A baseline is the plain group of the same setting apart from the hidden classes (dataset, split,
    experiment, head, modality dropout): each head's zero-shot setups get their own bars, never another
    head's, and a zero-shot setting never another split's baseline.
    """
    full = [g for g in groups if g.key.train_ratio == 1.0]
    plain = {g.key: g for g in full if g.key.num_hidden == 0}
    out = [g for g in full if g.key.num_hidden > 0]
    # One baseline column per zero-shot family: its key with nothing hidden, still shown under its label.
    families = {replace(g.key, num_hidden=0, hidden_classes=()) for g in out}
    for key in sorted(families, key=group_order):
        base = plain.get(
            replace(key, setup=ZERO_SHOT_BASELINE[key.setup], hidden_from="none", hidden_classes=())
        )
        if base is not None:
            out.append(Group(key, base.runs))
    order = {s: i for i, s in enumerate(ZERO_SHOT_SETUPS)}
    return sorted(out, key=lambda g: (g.key.dataset, order[g.key.setup], group_order(g.key)))
