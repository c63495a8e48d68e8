"""make_report: read the runs below some folders and write every report file into one folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harlit.report.figures import (
    choose_confusion_run,
    confusion_title,
    plot_confusion,
    plot_data_ratio,
    plot_robustness,
    plot_zero_shot,
)
from harlit.report.robustness import robustness
from harlit.report.runs import collect_runs, group_runs, split_evaluations
from harlit.report.settings import label_settings
from harlit.report.tables import write_csv, write_markdown


def make_report(
    dirs: Sequence[Path], out: Path | None = None, confusion: Path | None = None
) -> dict[str, Path]:
    """Read the runs below `dirs` and write the report files into `out` (default the first dir).

    Returns the written files by kind: "csv", "md", and where drawn "data_ratio", "zero_shot", "robustness",
    "confusion". Evaluations (`python -m harlit.evaluate`) feed only the robustness table and figure.
    """
    dirs = [Path(d).expanduser() for d in dirs]
    collected = collect_runs(dirs)
    runs, evaluations, unused_evaluations = split_evaluations(label_settings(collected.runs))
    groups = group_runs(runs)
    robust = robustness(groups, evaluations)
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
    if plot_robustness(robust, out / "robustness.png"):
        written["robustness"] = out / "robustness.png"
        figures.append("robustness.png")
    # --confusion names a run; without it the default run is drawn, titled by what it is.
    chosen = choose_confusion_run(runs) if confusion is None else None
    if confusion is not None or chosen is not None:
        run_dir = Path(confusion).expanduser() if confusion else chosen.path.parent
        plot_confusion(run_dir, out / "confusion_matrix.png", confusion_title(chosen) if chosen else None)
        written["confusion"] = out / "confusion_matrix.png"
        figures.append("confusion_matrix.png")
    write_csv(groups, written["csv"], robust)
    write_markdown(
        groups,
        collected.dropped,
        figures,
        dirs,
        written["md"],
        robust,
        len(evaluations),
        unused_evaluations,
        collected.copies,
    )
    return written
