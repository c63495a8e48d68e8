"""`python -m harlit.report DIR [DIR...]`: Table 2, Fig. 2 and Fig. 3 from the metrics.json of finished runs.

Every metrics.json below the given folders is one run. Runs are grouped by dataset, setup (IMU, RGB,
IMU+RGB and the zero-shot setups IMU*, RGB*, IMU*+RGB, RGB*+IMU), training-data ratio and number of
hidden classes; each group gets mean and sample standard deviation (ddof=1) over its seeds. If a group
holds two runs of one seed (a sweep repeated into the same folder), the newest metrics.json counts.

Outputs (in --out, default the first DIR): report.md, report.csv, data_ratio.png, zero_shot.png and
confusion_matrix.png of one run (--confusion RUN_DIR, or the first full-data fusion run).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harlit.errors import HarlitError, exit_on_user_error

log = logging.getLogger(__name__)

METRICS = ("top1", "top5", "f1_macro", "top1_hidden", "top1_seen")
METRIC_LABELS = {
    "top1": "Top-1",
    "top5": "Top-5",
    "f1_macro": "macro F1",
    "top1_hidden": "Top-1 hidden",
    "top1_seen": "Top-1 seen",
}
BASE_SETUPS = {"imu": "IMU", "video": "RGB", "fusion": "IMU+RGB"}
TABLE2_ROWS = {"IMU": "IMU only", "RGB": "video only", "IMU+RGB": "IMU + video"}
ZERO_SHOT_SETUPS = ("IMU*", "RGB*", "IMU*+RGB", "RGB*+IMU", "IMU*+RGB*")
# With nothing hidden, each zero-shot setup is its plain counterpart.
ZERO_SHOT_BASELINE = {
    "IMU*": "IMU",
    "RGB*": "RGB",
    "IMU*+RGB": "IMU+RGB",
    "RGB*+IMU": "IMU+RGB",
    "IMU*+RGB*": "IMU+RGB",
}
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

# The paper's own Table 2 (Top-1 / Top-5 / macro F1, %), quoted from issue 4; never measured here.
PAPER_TABLE2: dict[str, dict[str, tuple[float, float, float]]] = {
    "utd_mhad": {
        "IMU": (85.42, 97.14, 85.44),
        "RGB": (74.76, 95.14, 74.09),
        "IMU+RGB": (96.05, 100.0, 96.05),
    },
    "mmact": {"IMU": (64.28, 90.57, 65.45), "RGB": (71.89, 94.92, 72.86), "IMU+RGB": (84.05, 98.96, 84.78)},
}
QUOTED_SOURCE = "quoted: paper Table 2"


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


@dataclass
class Group:
    key: GroupKey
    runs: list[Run] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs)

    def stats(self, metric: str) -> tuple[float, float]:
        """Mean and sample std (ddof=1) in %, NaN where undefined (a missing metric, or one seed's std)."""
        values = np.array([r.values.get(metric, math.nan) for r in self.runs], dtype=float) * 100.0
        values = values[~np.isnan(values)]
        if len(values) == 0:
            return math.nan, math.nan
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def setup_of(modality: str, hidden_from: str, num_hidden: int) -> str:
    """'IMU', 'RGB', 'IMU+RGB', or the zero-shot setup whose starred modality never saw the hidden classes."""
    if modality not in BASE_SETUPS:
        raise HarlitError(
            f"unknown modality {modality!r} in a metrics.json; expected one of {sorted(BASE_SETUPS)}."
        )
    if num_hidden == 0:
        return BASE_SETUPS[modality]
    if modality != "fusion":
        return BASE_SETUPS[modality] + "*"
    return {"imu": "IMU*+RGB", "video": "RGB*+IMU"}.get(hidden_from, "IMU*+RGB*")


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
    return Run(path, key, int(data.get("seed", 0)), hidden_from, hidden, values, path.stat().st_mtime)


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
    groups: dict[GroupKey, Group] = {}
    for run in runs:
        groups.setdefault(run.key, Group(run.key)).runs.append(run)
    order = {s: i for i, s in enumerate([*BASE_SETUPS.values(), *ZERO_SHOT_SETUPS])}
    return sorted(
        groups.values(),
        key=lambda g: (g.key.dataset, order.get(g.key.setup, 99), g.key.train_ratio, g.key.num_hidden),
    )


# --- tables ----------------------------------------------------------------------------------------


def fmt(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def hidden_names(group: Group) -> str:
    per_seed = {r.seed: r.hidden_classes for r in group.runs if r.hidden_classes}
    return "; ".join(f"seed {s}: {', '.join(names)}" for s, names in sorted(per_seed.items()))


def csv_rows(groups: Sequence[Group]) -> list[dict[str, Any]]:
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
        rows.append(row)
    for dataset, table in PAPER_TABLE2.items():
        for setup, (top1, top5, f1) in table.items():
            row = {
                "source": QUOTED_SOURCE,
                "dataset": dataset,
                "setup": setup,
                "train_ratio": 1.0,
                "num_hidden": 0,
                "hidden_from": "none",
                "n_seeds": "",
                "seeds": "",
                "top1_mean": top1,
                "top5_mean": top5,
                "f1_macro_mean": f1,
                "hidden_classes": "",
            }
            rows.append(row)
    return rows


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
]


def write_csv(groups: Sequence[Group], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for row in csv_rows(groups):
            writer.writerow(
                {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            )


def table2_markdown(groups: Sequence[Group]) -> list[str]:
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
                f"| {g.key.dataset} | {TABLE2_ROWS[g.key.setup]} | {len(g.runs)} | "
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
    for dataset, table in PAPER_TABLE2.items():
        for setup, numbers in table.items():
            lines.append(
                f"| {dataset} (paper) | {TABLE2_ROWS[setup]} | "
                + " | ".join(f"{v:.2f}" for v in numbers)
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
                lines.append(f"| {setup} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def ratio_groups(groups: Sequence[Group]) -> list[Group]:
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


def write_markdown(
    groups: Sequence[Group], dropped: int, figures: Sequence[str], dirs: Sequence[Path], path: Path
) -> None:
    runs = [r for g in groups for r in g.runs]
    overrides = shared_overrides(runs)
    lines = [
        "# harlit report",
        "",
        f"Runs read from: {', '.join(str(d) for d in dirs)}. {len(runs)} runs in "
        f"{len(groups)} groups"
        + (f"; {dropped} older duplicate run(s) of a seed ignored." if dropped else "."),
        "Numbers are test-set percentages, mean ± sample std (ddof=1) over seeds; n = seeds.",
        "",
    ]
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
            f"| {g.key.dataset} | {g.key.setup} | {g.key.train_ratio:g} | {g.key.num_hidden} | {len(g.runs)} | "
            + " | ".join(fmt(*g.stats(m)) for m in METRICS)
            + f" | {hidden_names(g)} |"
        )
    lines += ["", "Figures: " + (", ".join(f"[{f}]({f})" for f in figures) if figures else "none"), ""]
    path.write_text("\n".join(lines))


# --- figures ---------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_data_ratio(groups: Sequence[Group], path: Path) -> bool:
    """Fig. 2 style: Top-1 and macro F1 against the training-data ratio, one row per dataset."""
    chosen = ratio_groups(groups)
    if len({g.key.train_ratio for g in chosen}) < 2:
        return False  # a curve needs at least two ratios
    plt = _pyplot()
    datasets = sorted({g.key.dataset for g in chosen})
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 3.8 * len(datasets)), squeeze=False)
    for row, dataset in enumerate(datasets):
        for col, metric in enumerate(("top1", "f1_macro")):
            ax = axes[row][col]
            for setup in TABLE2_ROWS:
                line = sorted(
                    (g for g in chosen if g.key.dataset == dataset and g.key.setup == setup),
                    key=lambda g: g.key.train_ratio,
                )
                if not line:
                    continue
                stats = [g.stats(metric) for g in line]
                ax.errorbar(
                    [g.key.train_ratio * 100 for g in line],
                    [s[0] for s in stats],
                    yerr=[0.0 if math.isnan(s[1]) else s[1] for s in stats],
                    marker="o",
                    capsize=4,
                    color=SETUP_COLOURS[setup],
                    label=f"{TABLE2_ROWS[setup]} (n={len(line[0].runs)})",
                )
            ax.set_xlabel("training data used (%)")
            ax.set_ylabel(f"{METRIC_LABELS[metric]} (%)")
            ax.set_title(f"{dataset}: {METRIC_LABELS[metric]} vs. training-data ratio")
            ax.set_xticks(sorted({g.key.train_ratio * 100 for g in chosen}))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_zero_shot(groups: Sequence[Group], path: Path) -> bool:
    """Fig. 3 style: grouped bars per number of hidden classes; Top-1, macro F1 and Top-1 on hidden classes."""
    chosen = zero_shot_groups(groups)
    if not chosen:
        return False
    plt = _pyplot()
    datasets = sorted({g.key.dataset for g in chosen})
    metrics = ("top1", "f1_macro", "top1_hidden")
    fig, axes = plt.subplots(len(datasets), len(metrics), figsize=(15, 4 * len(datasets)), squeeze=False)
    for row, dataset in enumerate(datasets):
        mine = [g for g in chosen if g.key.dataset == dataset]
        counts = sorted({g.key.num_hidden for g in mine})
        setups = list(dict.fromkeys(g.key.setup for g in mine))
        width = 0.8 / len(setups)
        for col, metric in enumerate(metrics):
            ax = axes[row][col]
            for i, setup in enumerate(setups):
                xs, means, stds = [], [], []
                for j, count in enumerate(counts):
                    match = [g for g in mine if g.key.setup == setup and g.key.num_hidden == count]
                    if not match:
                        continue
                    mean, std = match[0].stats(metric)
                    if math.isnan(mean):
                        continue
                    xs.append(j + (i - (len(setups) - 1) / 2) * width)
                    means.append(mean)
                    stds.append(0.0 if math.isnan(std) else std)
                ax.bar(xs, means, width, yerr=stds, capsize=3, color=SETUP_COLOURS.get(setup), label=setup)
            ax.set_xticks(range(len(counts)), [str(c) for c in counts])
            ax.set_xlabel("hidden classes")
            ax.set_ylabel(f"{METRIC_LABELS[metric]} (%)")
            ax.set_ylim(0, 100)
            ax.set_title(f"{dataset}: {METRIC_LABELS[metric]}")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Zero-shot: classes hidden from the starred modality (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def choose_confusion_run(runs: Sequence[Run]) -> Run | None:
    """The default run to draw: full data, nothing hidden, fusion before IMU before RGB, lowest seed."""
    with_matrix = [r for r in runs if (r.path.parent / "confusion_matrix.json").is_file()]
    order = {"IMU+RGB": 0, "IMU": 1, "RGB": 2}
    return min(
        with_matrix,
        default=None,
        key=lambda r: (
            r.key.num_hidden > 0,
            r.key.train_ratio != 1.0,
            order.get(r.key.setup, 3),
            r.seed,
            str(r.path),
        ),
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def make_report(
    dirs: Sequence[Path], out: Path | None = None, confusion: Path | None = None
) -> dict[str, Path]:
    """Read the runs below `dirs` and write the report files into `out` (default the first dir)."""
    dirs = [Path(d).expanduser() for d in dirs]
    runs, dropped = collect_runs(dirs)
    groups = group_runs(runs)
    out = Path(out).expanduser() if out else dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    written = {"csv": out / "report.csv", "md": out / "report.md"}
    figures: list[str] = []
    if plot_data_ratio(groups, out / "data_ratio.png"):
        written["data_ratio"] = out / "data_ratio.png"
        figures.append("data_ratio.png")
    if plot_zero_shot(groups, out / "zero_shot.png"):
        written["zero_shot"] = out / "zero_shot.png"
        figures.append("zero_shot.png")
    chosen = choose_confusion_run(runs) if confusion is None else None
    if confusion is not None or chosen is not None:
        run_dir = Path(confusion).expanduser() if confusion else chosen.path.parent
        title = (
            (
                f"{chosen.key.dataset} {chosen.key.setup}, ratio {chosen.key.train_ratio:g}, "
                f"{chosen.key.num_hidden} hidden, seed {chosen.seed}"
            )
            if chosen
            else None
        )
        plot_confusion(run_dir, out / "confusion_matrix.png", title)
        written["confusion"] = out / "confusion_matrix.png"
        figures.append("confusion_matrix.png")
    write_csv(groups, written["csv"])
    write_markdown(groups, dropped, figures, dirs, written["md"])
    return written


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harlit.report", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "dirs", nargs="+", type=Path, help="folders to search for metrics.json (runs, sweeps)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default: the first DIR)"
    )
    parser.add_argument(
        "--confusion",
        type=Path,
        default=None,
        help="run folder (or confusion_matrix.json) to draw; default: the first full-data fusion run",
    )
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    written = make_report(args.dirs, args.out, args.confusion)
    for path in written.values():
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
