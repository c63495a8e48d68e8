"""The text outputs: report.csv (one row per group, per evaluation group, then the quoted paper rows) and
report.md.

report.md holds Table 2 (measured, then the paper's numbers labelled as quoted), the Fig. 2 and Fig. 3
numbers as one table per dataset and metric, the robustness table where evaluations with a modality
missing exist, and every group. A model other than its experiment's own (another fusion head, modality
dropout) is labelled with it, e.g. 'IMU + video [late, p=0.3]'; a *_paper experiment's rows say
[paper setting]; settings no column shows tell rows of one label apart, e.g. '(val_subjects=[3])'. The
plain fusion row is harlit's head concat_mlp, and report.md says so: the paper's head is concat_mlp_paper.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harlit.report.paper import PAPER_TABLE2, QUOTED_SOURCE
from harlit.report.paths import shown_folder, shown_override
from harlit.report.robustness import (
    CONDITION_LABELS,
    CONDITIONS,
    Robustness,
    model_name,
    panel_of,
    reference_name,
)
from harlit.report.runs import IMU_SEEN_KEY, SPLIT_KEYS, Group, GroupKey, shared_overrides
from harlit.report.selection import ratio_groups, zero_shot_groups
from harlit.report.settings import setting_notes
from harlit.report.setups import METRIC_LABELS, METRICS, TABLE2_ROWS, default_head

CSV_COLUMNS = [
    "source",
    "dataset",
    "setup",
    "label",
    "experiment",
    "head",
    "modality_dropout",
    "missing_at_test",
    "train_ratio",
    "num_hidden",
    "hidden_from",
    *SPLIT_KEYS,
    "n_seeds",
    "seeds",
    *[f"{m}_{s}" for m in METRICS for s in ("mean", "std")],
    "top1_drop_mean",
    "top1_drop_std",
    "hidden_classes",
    IMU_SEEN_KEY,
]
# report.csv's source column: a training group, a group of evaluations with a modality missing at test.
MEASURED, EVALUATION = "measured", "measured: modality missing at test"
# Rows whose runs tested on IMU recordings they also trained on carry this mark and the note below.
IMU_SEEN_MARK = " †"
IMU_SEEN_NOTE = (
    "† test IMU recordings seen in training: MMAct cross_view runs split by camera, and one sensor "
    "recording serves every camera, so each test clip's IMU recording was also trained on."
)


def fmt(mean: float, std: float) -> str:
    """'mean ± std' with two decimals; the mean alone for one seed, '–' for no value."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def hidden_names(group: Group) -> str:
    """The hidden classes of each seed, e.g. 'seed 0: a; seed 1: b'."""
    per_seed = {r.seed: r.hidden_classes for r in group.runs if r.hidden_classes}
    return "; ".join(f"seed {s}: {', '.join(names)}" for s, names in sorted(per_seed.items()))


def marked(label: str, group: Group) -> str:
    """A row label, with IMU_SEEN_MARK when the group's test IMU recordings were seen in training."""
    return label + IMU_SEEN_MARK if group.imu_seen else label


def group_row(g: Group, source: str, missing: str = "") -> dict[str, Any]:
    """A CSV row of a group: its key, seeds, and mean and std of every metric."""
    row: dict[str, Any] = {
        "source": source,
        "dataset": g.key.dataset,
        "setup": g.key.setup,
        "label": g.key.label,
        "experiment": g.key.experiment,
        "head": g.key.head,
        "modality_dropout": g.key.modality_dropout,
        "missing_at_test": missing,
        "train_ratio": g.key.train_ratio,
        "num_hidden": g.key.num_hidden,
        "hidden_from": ",".join(sorted({r.hidden_from for r in g.runs})),
        **dict(g.key.split),
        "n_seeds": len(g.runs),
        "seeds": " ".join(map(str, g.seeds)),
    }
    for m in METRICS:
        mean, std = g.stats(m)
        row[f"{m}_mean"], row[f"{m}_std"] = round(mean, 4), round(std, 4)
    row["hidden_classes"] = hidden_names(g)
    row[IMU_SEEN_KEY] = g.imu_seen
    return row


def csv_rows(groups: Sequence[Group], robust: Robustness | None = None) -> list[dict[str, Any]]:
    """One row per measured group; per evaluation group (a fusion model with one modality missing at test,
    with its Top-1 drop from both present); then one per quoted paper result (no std, no seeds)."""
    rows = [group_row(g, MEASURED) for g in groups]
    for robust_row in robust.rows if robust else []:
        for condition in CONDITIONS[1:]:
            cell = robust_row.cells.get(condition)
            if cell is None:
                continue
            missing = cell.runs[0].missing_at_test or ()
            row = group_row(cell, EVALUATION, ",".join(missing))
            mean, std, _ = robust_row.drop(condition)
            row["top1_drop_mean"], row["top1_drop_std"] = round(mean, 4), round(std, 4)
            rows.append(row)
    for paper in PAPER_TABLE2:
        row = {
            "source": QUOTED_SOURCE,
            "dataset": paper.dataset,
            "setup": paper.setup,
            "label": paper.setup,
            "head": default_head(paper.setup, "paper"),
            "modality_dropout": 0.0,
            "missing_at_test": "",
            "train_ratio": 1.0,
            "num_hidden": 0,
            "hidden_from": "none",
            "n_seeds": "",
            "seeds": "",
            "hidden_classes": "",
        }
        row.update({f"{m}_mean": value for m, value in paper.metrics.items()})
        rows.append(row)
    return rows


def write_csv(groups: Sequence[Group], path: Path, robust: Robustness | None = None) -> None:
    """report.csv: csv_rows in CSV_COLUMNS order, NaN as an empty cell."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for row in csv_rows(groups, robust):
            writer.writerow(
                {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            )


def table2_row(key: GroupKey, beside_paper_recipe: bool = False) -> str:
    """A group's Table 2 row name: 'IMU + video', 'IMU + video [late, p=0.3]' for another model,
    'IMU only [paper setting]' for a *_paper experiment, '[harlit setting]' beside such a row, and the
    settings that tell it from another row of that name, e.g. 'IMU only (val_subjects=[3])'."""
    variant = key.variant or ("harlit setting" if beside_paper_recipe else "")
    name = f"{TABLE2_ROWS[key.setup]} [{variant}]" if variant else TABLE2_ROWS[key.setup]
    return name + key.shown


def table2_markdown(groups: Sequence[Group]) -> list[str]:
    """Table 2 as measured (full data, nothing hidden), then the paper's own numbers, labelled as quoted.

    Models off the paper's setting (another fusion head, modality dropout) get rows of their own."""
    lines = [
        "## Table 2: single modalities and fusion (all training data, no hidden classes)",
        "",
        "Measured here: mean ± sample std over seeds, in %.",
        "",
        "| dataset | row | seeds | Top-1 | Top-5 | macro F1 |",
        "|---|---|---|---|---|---|",
    ]
    paper_recipes = {(g.key.dataset, g.key.setup) for g in groups if g.key.recipe == "paper"}
    for g in groups:
        if g.key.num_hidden == 0 and g.key.train_ratio == 1.0 and g.key.setup in TABLE2_ROWS:
            cells = [fmt(*g.stats(m)) for m in ("top1", "top5", "f1_macro")]
            row = table2_row(g.key, (g.key.dataset, g.key.setup) in paper_recipes)
            lines.append(
                f"| {g.key.dataset} | {marked(row, g)} | {len(g.runs)} | " + " | ".join(cells) + " |"
            )
    lines += [
        "",
        f"**Quoted, not measured here** ({QUOTED_SOURCE}; the paper reports no std):",
        "",
        "| dataset | row | Top-1 | Top-5 | macro F1 |",
        "|---|---|---|---|---|",
    ]
    for paper in PAPER_TABLE2:
        lines.append(
            f"| {paper.dataset} (paper) | {TABLE2_ROWS[paper.setup]} | "
            + " | ".join(f"{v:.2f}" for v in paper.metrics.values())
            + " |"
        )
    lines += [
        "",
        "The paper's comparison with other methods is not quoted: its numbers are not part of this "
        "project's issue text, and this report never fills in numbers it cannot source.",
        "",
    ]
    return lines


def pivot_markdown(title: str, groups: Sequence[Group], column: str, metrics: Sequence[str]) -> list[str]:
    """One table per dataset and metric: setups (labelled by variant) as rows, `column` (train_ratio or
    num_hidden) as columns."""
    lines = [f"## {title}", ""]
    for dataset in sorted({g.key.dataset for g in groups}):
        chosen = [g for g in groups if g.key.dataset == dataset]
        columns = sorted({getattr(g.key, column) for g in chosen})
        setups = list(dict.fromkeys(g.key.label for g in chosen))
        for metric in metrics:
            if all(math.isnan(g.stats(metric)[0]) for g in chosen):
                continue
            head = "ratio" if column == "train_ratio" else "hidden classes"
            lines += [
                f"**{dataset}, {METRIC_LABELS[metric]} (%)** by {head}",
                "",
                "| setup | " + " | ".join(f"{c:g}" for c in columns) + " |",
                "|---|" + "---|" * len(columns),
            ]
            for setup in setups:
                cells = []
                for c in columns:
                    match = [g for g in chosen if g.key.label == setup and getattr(g.key, column) == c]
                    cells.append(f"{fmt(*match[0].stats(metric))} (n={len(match[0].runs)})" if match else "")
                seen = any(g.imu_seen for g in chosen if g.key.label == setup)
                lines.append(f"| {setup + IMU_SEEN_MARK if seen else setup} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def robustness_markdown(robust: Robustness) -> list[str]:
    """The robustness table: Top-1 of each fusion model with both, IMU only, video only, and the drops;
    one block per dataset and split, its stage-1 references last."""
    lines = [
        "## Robustness: a modality missing at test (all training data, no hidden classes)",
        "",
        "Top-1 in %, mean ± sample std over seeds. *both*: the fusion runs' own test; *IMU only* / "
        "*video only*: the same models tested with video / IMU absent for every test sample "
        "(`python -m harlit.evaluate eval.missing=[video]` / `[imu]`). A drop is both minus single per "
        "seed, in percentage points, mean ± std over the seeds with both numbers. p is "
        "model.modality_dropout in training. concat_mlp is harlit's head (the paper's two linear layers "
        "with BatchNorm and dropout 0.5 added), concat_mlp_paper the paper's as stated. The stage-1 rows "
        "are the single-modality models trained on their own (reference).",
        "",
        "| dataset | model | seeds | "
        + " | ".join(CONDITION_LABELS[c] for c in CONDITIONS)
        + " | "
        + " | ".join(f"drop, {CONDITION_LABELS[c]}" for c in CONDITIONS[1:])
        + " |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(mean: float, std: float, n: int, n_row: int) -> str:
        return fmt(mean, std) + (f" (n={n})" if n and n != n_row else "")

    titles = robust.titles
    for panel in robust.panels:
        title = titles[panel]
        for row in (r for r in robust.rows if panel_of(r.key) == panel):
            n_row = row.seeds("both") or max(row.seeds(c) for c in CONDITIONS)
            cells = [cell(*row.stats(c), row.seeds(c), n_row) for c in CONDITIONS]
            cells += [cell(*row.drop(c), n_row) for c in CONDITIONS[1:]]
            lines.append(f"| {title} | {model_name(row.key)} | {n_row} | " + " | ".join(cells) + " |")
        for condition in CONDITIONS[1:]:
            ref = robust.references.get((panel, condition))
            if ref is None:
                continue
            cells = [fmt(*ref.stats("top1")) if c == condition else "" for c in CONDITIONS]
            lines.append(
                f"| {title} | {reference_name(condition, ref)} | {len(ref.runs)} | "
                + " | ".join(cells)
                + " |  |  |"
            )
    lines.append("")
    if robust.left_out:
        lines += [
            f"{robust.left_out} evaluation(s) of models trained on part of the data or with hidden "
            "classes are not in this table.",
            "",
        ]
    return lines


def write_markdown(
    groups: Sequence[Group],
    dropped: int,
    figures: Sequence[str],
    dirs: Sequence[Path],
    path: Path,
    robust: Robustness | None = None,
    missing_evaluations: int = 0,
    unused_evaluations: int = 0,
    copies: int = 0,
) -> None:
    """report.md: settings, Table 2, Fig. 2 and Fig. 3 tables where their runs exist, the robustness
    table where evaluations with a modality missing exist, all groups, figures.

    `groups` are training runs only; `missing_evaluations` counts evaluations with a modality missing,
    `unused_evaluations` those with both modalities present, `copies` second copies of one run read once.
    Folders and path-valued overrides are shown without the machine's paths (see harlit.report.paths).
    """
    runs = [r for g in groups for r in g.runs]
    overrides = [shown_override(o) for o in shared_overrides(runs)]
    lines = [
        "# harlit report",
        "",
        f"Runs read from: {', '.join(shown_folder(d, path.parent) for d in dirs)}. {len(runs)} runs in "
        f"{len(groups)} groups"
        + (f"; {dropped} older duplicate run(s) of a seed ignored" if dropped else "")
        + (
            f"; {copies} second copy(ies) of a run (a stage-1 run's metrics.json in the registry) counted once"
            if copies
            else ""
        )
        + ".",
        "Numbers are test-set percentages, mean ± sample std (ddof=1) over seeds; n = seeds.",
        "",
    ]
    said = []
    if missing_evaluations:
        said.append(
            f"{missing_evaluations} with a modality missing at test feed only the robustness table"
            + ("" if robust else " (none is of a fusion model trained on all the data with nothing hidden)")
        )
    if unused_evaluations:
        said.append(
            f"{unused_evaluations} with both modalities present are not used (the training runs' own tests "
            "give those numbers)"
        )
    if said:
        lines += [
            "Evaluations of trained models (`python -m harlit.evaluate`) are not training runs: "
            + "; ".join(said)
            + ".",
            "",
        ]
    lines += setting_notes(groups)
    if any(g.imu_seen for g in groups):
        lines += [IMU_SEEN_NOTE, ""]
    if overrides:
        lines += ["Overrides shared by all runs: " + " ".join(f"`{o}`" for o in overrides), ""]
    lines += table2_markdown(groups)
    ratio = ratio_groups(groups)
    if len({g.key.train_ratio for g in ratio}) > 1:
        lines += pivot_markdown("Fig. 2: training-data ratio", ratio, "train_ratio", ("top1", "f1_macro"))
    zero = zero_shot_groups(groups)
    if zero:
        lines += pivot_markdown(
            "Fig. 3: hidden-class zero-shot (* = the modality the classes are hidden from)",
            zero,
            "num_hidden",
            ("top1", "f1_macro", "top1_hidden", "top1_seen"),
        )
    if robust:
        lines += robustness_markdown(robust)
    lines += [
        "## All groups",
        "",
        "| dataset | setup | ratio | hidden | n | "
        + " | ".join(METRIC_LABELS[m] for m in METRICS)
        + " | hidden classes |",
        "|---|---|---|---|---|" + "---|" * len(METRICS) + "---|",
    ]
    for g in groups:
        lines.append(
            f"| {g.key.dataset} | {marked(g.key.label, g)} | {g.key.train_ratio:g} | {g.key.num_hidden} | {len(g.runs)} | "
            + " | ".join(fmt(*g.stats(m)) for m in METRICS)
            + f" | {hidden_names(g)} |"
        )
    lines += ["", "Figures: " + (", ".join(f"[{f}]({f})" for f in figures) if figures else "none"), ""]
    path.write_text("\n".join(lines))
