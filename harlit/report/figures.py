"""The PNG outputs: data_ratio.png (Fig. 2), zero_shot.png (Fig. 3), robustness.png and one run's
confusion_matrix.png.

A model other than its experiment's own (another fusion head, modality dropout), a *_paper experiment's
model ([paper setting]) and a setting no label shows ('(val_subjects=[3])') are drawn as their own line
or bars, labelled so, in a colour of their own. Robustness bars name whose head each is: concat_mlp is
harlit's, concat_mlp_paper the paper's."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harlit.errors import HarlitError
from harlit.report.robustness import CONDITION_LABELS, CONDITIONS, Robustness, panel_of, reference_name
from harlit.report.runs import Group, GroupKey, Run
from harlit.report.selection import ratio_groups, zero_shot_groups
from harlit.report.setups import HEAD_OWNERS, METRIC_LABELS, TABLE2_ROWS, UNKNOWN_HEAD

SETUP_COLOURS = {
    "IMU": "tab:blue",
    "RGB": "tab:orange",
    "IMU+RGB": "tab:green",
    "IMU*": "tab:blue",
    "RGB*": "tab:orange",
    "IMU*+RGB": "tab:green",
    "RGB*+IMU": "tab:red",
    "IMU*+RGB*": "tab:purple",
}
# Every other model and setting, in the order they first appear in a figure.
VARIANT_COLOURS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray", "gold", "navy", "teal")
CONDITION_COLOURS = {"both": "tab:green", "imu_only": "tab:blue", "video_only": "tab:orange"}


def colours_of(keys: Sequence[GroupKey]) -> dict[str, str | None]:
    """A colour per label: the setup's own for harlit's own model of an experiment (no variant, no
    distinguishing setting), one of VARIANT_COLOURS otherwise."""
    colours: dict[str, str | None] = {}
    variants = 0
    for key in keys:
        if key.label in colours:
            continue
        if not key.variant and not key.shown:
            colours[key.label] = SETUP_COLOURS.get(key.setup)
        else:
            colours[key.label] = VARIANT_COLOURS[variants % len(VARIANT_COLOURS)]
            variants += 1
    return colours


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)  # pyplot keeps every open figure alive otherwise


def plot_data_ratio(groups: Sequence[Group], path: Path) -> bool:
    """Fig. 2 style: Top-1 and macro F1 against the training-data ratio, one row per dataset."""
    chosen = ratio_groups(groups)
    if len({g.key.train_ratio for g in chosen}) < 2:
        return False  # a curve needs at least two ratios
    plt = _pyplot()
    datasets = sorted({g.key.dataset for g in chosen})
    colours = colours_of([g.key for g in chosen])
    labels = list(dict.fromkeys(g.key.label for g in chosen))  # chosen is in group order
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 3.8 * len(datasets)), squeeze=False)
    for row, dataset in enumerate(datasets):
        for col, metric in enumerate(("top1", "f1_macro")):
            ax = axes[row][col]
            for label in labels:
                line = sorted(
                    (g for g in chosen if g.key.dataset == dataset and g.key.label == label),
                    key=lambda g: g.key.train_ratio,
                )
                if not line:
                    continue
                key = line[0].key
                stats = [g.stats(metric) for g in line]
                ax.errorbar(
                    [g.key.train_ratio * 100 for g in line],
                    [s[0] for s in stats],
                    yerr=[0.0 if math.isnan(s[1]) else s[1] for s in stats],
                    marker="o",
                    capsize=4,
                    color=colours[label],
                    linestyle="--" if key.variant else "-",
                    label=f"{TABLE2_ROWS[key.setup]}{f' [{key.variant}]' if key.variant else ''}{key.shown} "
                    f"(n={len(line[0].runs)})",
                )
            ax.set_xlabel("training data used (%)")
            ax.set_ylabel(f"{METRIC_LABELS[metric]} (%)")
            ax.set_title(f"{dataset}: {METRIC_LABELS[metric]} vs. training-data ratio")
            ax.set_xticks(sorted({g.key.train_ratio * 100 for g in chosen}))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    _save(plt, fig, path)
    return True


def plot_zero_shot(groups: Sequence[Group], path: Path) -> bool:
    """Fig. 3 style: grouped bars per number of hidden classes; Top-1, macro F1 and Top-1 on hidden classes."""
    chosen = zero_shot_groups(groups)
    if not chosen:
        return False
    plt = _pyplot()
    datasets = sorted({g.key.dataset for g in chosen})
    colours = colours_of([g.key for g in chosen])
    metrics = ("top1", "f1_macro", "top1_hidden")
    fig, axes = plt.subplots(len(datasets), len(metrics), figsize=(15, 4 * len(datasets)), squeeze=False)
    for row, dataset in enumerate(datasets):
        mine = [g for g in chosen if g.key.dataset == dataset]
        counts = sorted({g.key.num_hidden for g in mine})
        setups = list(dict.fromkeys(g.key.label for g in mine))
        width = 0.8 / len(setups)
        for col, metric in enumerate(metrics):
            ax = axes[row][col]
            for i, setup in enumerate(setups):
                xs, means, stds = [], [], []
                for j, count in enumerate(counts):
                    match = [g for g in mine if g.key.label == setup and g.key.num_hidden == count]
                    if not match:
                        continue
                    mean, std = match[0].stats(metric)
                    if math.isnan(mean):
                        continue
                    xs.append(j + (i - (len(setups) - 1) / 2) * width)
                    means.append(mean)
                    stds.append(0.0 if math.isnan(std) else std)
                ax.bar(xs, means, width, yerr=stds, capsize=3, color=colours[setup], label=setup)
            ax.set_xticks(range(len(counts)), [str(c) for c in counts])
            ax.set_xlabel("hidden classes")
            ax.set_ylabel(f"{METRIC_LABELS[metric]} (%)")
            ax.set_ylim(0, 100)
            ax.set_title(f"{dataset}: {METRIC_LABELS[metric]}")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Zero-shot: classes hidden from the starred modality (mean ± std over seeds)")
    _save(plt, fig, path)
    return True


def robustness_tick(key: GroupKey) -> str:
    """A bar group's name: head (and whose it is), modality dropout, and the rest of its label."""
    head = "head unknown" if key.head == UNKNOWN_HEAD else key.head
    owner = f"\n({HEAD_OWNERS[key.head].removesuffix(' head')})" if key.head in HEAD_OWNERS else ""
    paper = "\n[paper setting]" if key.recipe == "paper" else ""
    return f"{head}{owner}\np={key.modality_dropout:g}{paper}" + (
        f"\n{key.shown.strip()}" if key.shown else ""
    )


def plot_robustness(robust: Robustness | None, path: Path) -> bool:
    """Grouped bars per fusion model (head × modality dropout), one panel per dataset and split: Top-1 with
    both, IMU only and video only (mean ± std over seeds), the stage-1 models as horizontal lines."""
    if robust is None:
        return False
    plt = _pyplot()
    panels, titles = robust.panels, robust.titles
    most = max(sum(panel_of(r.key) == p for r in robust.rows) for p in panels)
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(9.0, 2.2 * most + 6), 4.6 * len(panels)), squeeze=False
    )
    width = 0.8 / len(CONDITIONS)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        rows = [r for r in robust.rows if panel_of(r.key) == panel]
        for i, condition in enumerate(CONDITIONS):
            xs, means, stds = [], [], []
            for j, row in enumerate(rows):
                mean, std = row.stats(condition)
                if math.isnan(mean):
                    continue
                xs.append(j + (i - (len(CONDITIONS) - 1) / 2) * width)
                means.append(mean)
                stds.append(0.0 if math.isnan(std) else std)
            ax.bar(
                xs,
                means,
                width,
                yerr=stds,
                capsize=3,
                color=CONDITION_COLOURS[condition],
                label=CONDITION_LABELS[condition],
            )
        for condition in CONDITIONS[1:]:
            ref = robust.references.get((panel, condition))
            if ref is None:
                continue
            mean, std = ref.stats("top1")
            colour = CONDITION_COLOURS[condition]
            ax.axhline(
                mean,
                color=colour,
                linestyle="--",
                linewidth=1.2,
                label=f"{reference_name(condition, ref)} (n={len(ref.runs)})",
            )
            if not math.isnan(std):
                ax.axhspan(mean - std, mean + std, color=colour, alpha=0.08)
        ax.set_xticks(range(len(rows)), [robustness_tick(row.key) for row in rows])
        ax.set_xlabel("fusion head, modality dropout p in training")
        ax.set_ylabel("Top-1 (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{titles[panel]}: Top-1 with a modality missing at test\n(mean ± std over seeds)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(plt, fig, path)
    return True


def choose_confusion_run(runs: Sequence[Run]) -> Run | None:
    """The default run to draw: full data, nothing hidden, fusion before IMU before RGB, an experiment's own
    model (harlit's before the paper setting's), lowest seed. Give it training runs: an evaluation's confusion matrix is not the model's own test."""
    with_matrix = [r for r in runs if (r.path.parent / "confusion_matrix.json").is_file()]
    order = {"IMU+RGB": 0, "IMU": 1, "RGB": 2}
    return min(
        with_matrix,
        default=None,
        key=lambda r: (
            r.key.num_hidden > 0,
            r.key.train_ratio != 1.0,
            order.get(r.key.setup, 3),
            bool(r.key.variant),
            r.key.head,
            r.key.modality_dropout,
            r.seed,
            str(r.path),
        ),
    )


def confusion_title(run: Run) -> str:
    """What the default confusion plot says about its run: dataset, setup, ratio, hidden classes, seed."""
    return (
        f"{run.key.dataset} {run.key.label}, ratio {run.key.train_ratio:g}, "
        f"{run.key.num_hidden} hidden, seed {run.seed}"
    )


def plot_confusion(run_dir: Path, path: Path, title: str | None = None) -> None:
    """The confusion matrix of one run (its confusion_matrix.json), coloured by row-normalised recall."""
    source = run_dir / "confusion_matrix.json" if run_dir.is_dir() else run_dir
    if not source.is_file():
        raise HarlitError(
            f"{source} does not exist; pass --confusion a run folder that holds confusion_matrix.json."
        )
    data = json.loads(source.read_text())
    names, matrix = data["classes"], np.asarray(data["matrix"], dtype=float)
    recall = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    plt = _pyplot()
    size = max(5.0, 0.32 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    if len(names) <= 30:
        for i in range(len(names)):
            for j in range(len(names)):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{int(matrix[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if recall[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"confusion matrix: {source.parent.name}", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of the true class")
    _save(plt, fig, path)
