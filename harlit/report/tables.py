"""The text outputs: report.csv (one row per group, then the quoted paper rows) and report.md.

report.md holds Table 2 (measured, then the paper's numbers labelled as quoted), the Fig. 2 and Fig. 3
numbers as one table per dataset and metric, and every group.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harlit.report.paper import PAPER_TABLE2, QUOTED_SOURCE
from harlit.report.paths import shown_folder, shown_override
from harlit.report.runs import IMU_SEEN_KEY, Group, shared_overrides
from harlit.report.selection import ratio_groups, zero_shot_groups
from harlit.report.setups import METRIC_LABELS, METRICS, TABLE2_ROWS

CSV_COLUMNS = [
    "source",
    "dataset",
    "setup",
    "train_ratio",
    "num_hidden",
    "hidden_from",
    "n_seeds",
    "seeds",
    *[f"{m}_{s}" for m in METRICS for s in ("mean", "std")],
    "hidden_classes",
    IMU_SEEN_KEY,
]
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


def csv_rows(groups: Sequence[Group]) -> list[dict[str, Any]]:
    """One row per measured group, then one per quoted paper result (no std, no seeds)."""
    rows: list[dict[str, Any]] = []
    for g in groups:
        row: dict[str, Any] = {
            "source": "measured",
            "dataset": g.key.dataset,
            "setup": g.key.setup,
            "train_ratio": g.key.train_ratio,
            "num_hidden": g.key.num_hidden,
            "hidden_from": ",".join(sorted({r.hidden_from for r in g.runs})),
            "n_seeds": len(g.runs),
            "seeds": " ".join(map(str, g.seeds)),
        }
        for m in METRICS:
            mean, std = g.stats(m)
            row[f"{m}_mean"], row[f"{m}_std"] = round(mean, 4), round(std, 4)
        row["hidden_classes"] = hidden_names(g)
        row[IMU_SEEN_KEY] = g.imu_seen
        rows.append(row)
    for paper in PAPER_TABLE2:
        row = {
            "source": QUOTED_SOURCE,
            "dataset": paper.dataset,
            "setup": paper.setup,
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


def write_csv(groups: Sequence[Group], path: Path) -> None:
    """report.csv: csv_rows in CSV_COLUMNS order, NaN as an empty cell."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for row in csv_rows(groups):
            writer.writerow(
                {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            )


def table2_markdown(groups: Sequence[Group]) -> list[str]:
    """Table 2 as measured (full data, nothing hidden), then the paper's own numbers, labelled as quoted."""
    lines = [
        "## Table 2: single modalities and fusion (all training data, no hidden classes)",
        "",
        "Measured here: mean ± sample std over seeds, in %.",
        "",
        "| dataset | row | seeds | Top-1 | Top-5 | macro F1 |",
        "|---|---|---|---|---|---|",
    ]
    for g in groups:
        if g.key.num_hidden == 0 and g.key.train_ratio == 1.0 and g.key.setup in TABLE2_ROWS:
            cells = [fmt(*g.stats(m)) for m in ("top1", "top5", "f1_macro")]
            lines.append(
                f"| {g.key.dataset} | {marked(TABLE2_ROWS[g.key.setup], g)} | {len(g.runs)} | "
                + " | ".join(cells)
                + " |"
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
    """One table per dataset and metric: setups as rows, `column` (train_ratio or num_hidden) as columns."""
    lines = [f"## {title}", ""]
    for dataset in sorted({g.key.dataset for g in groups}):
        chosen = [g for g in groups if g.key.dataset == dataset]
        columns = sorted({getattr(g.key, column) for g in chosen})
        setups = list(dict.fromkeys(g.key.setup for g in chosen))
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
                    match = [g for g in chosen if g.key.setup == setup and getattr(g.key, column) == c]
                    cells.append(f"{fmt(*match[0].stats(metric))} (n={len(match[0].runs)})" if match else "")
                seen = any(g.imu_seen for g in chosen if g.key.setup == setup)
                lines.append(f"| {setup + IMU_SEEN_MARK if seen else setup} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def write_markdown(
    groups: Sequence[Group], dropped: int, figures: Sequence[str], dirs: Sequence[Path], path: Path
) -> None:
    """report.md: settings, Table 2, Fig. 2 and Fig. 3 tables where their runs exist, all groups, figures.

    Folders and path-valued overrides are shown without the machine's paths (see harlit.report.paths).
    """
    runs = [r for g in groups for r in g.runs]
    overrides = [shown_override(o) for o in shared_overrides(runs)]
    lines = [
        "# harlit report",
        "",
        f"Runs read from: {', '.join(shown_folder(d, path.parent) for d in dirs)}. {len(runs)} runs in "
        f"{len(groups)} groups"
        + (f"; {dropped} older duplicate run(s) of a seed ignored." if dropped else "."),
        "Numbers are test-set percentages, mean ± sample std (ddof=1) over seeds; n = seeds.",
        "",
    ]
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
            f"| {g.key.dataset} | {marked(g.key.setup, g)} | {g.key.train_ratio:g} | {g.key.num_hidden} | {len(g.runs)} | "
            + " | ".join(fmt(*g.stats(m)) for m in METRICS)
            + f" | {hidden_names(g)} |"
        )
    lines += ["", "Figures: " + (", ".join(f"[{f}]({f})" for f in figures) if figures else "none"), ""]
    path.write_text("\n".join(lines))
