"""harlit.report on hand-made metrics.json files: grouping, mean ± std, CSV/Markdown layout, PNGs, fusion heads
and modality dropout apart, and the robustness table of evaluations with a modality missing at test."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harlit.errors import HarlitError
from harlit.report import make_report, setup_of

CLASSES = ["a", "b", "c", "d"]
REPO_ROOT = Path(__file__).resolve().parents[1]
# The start of an absolute or home path ("/data/x", "~/x", "~user/x") after a space, quote, `=`, `(` or `,`.
MACHINE_PATH = re.compile(r"(?:^|[\s`'\"=(,])(?:/|~)[\w.~/-]", re.MULTILINE)


EXPERIMENT_PREFIX = {"synthetic": "synthetic", "utd_mhad": "utd", "mmact": "mmact"}
DEFAULT = "default"  # write_run's head: the experiment's own (linear for stage 1, concat_mlp for fusion)


def write_run(
    root: Path,
    name: str,
    *,
    modality: str,
    seed: int,
    top1: float,
    top5: float = 0.9,
    f1: float = 0.5,
    ratio: float = 1.0,
    hidden: list[str] | None = None,
    hidden_from: str = "none",
    top1_hidden: float | None = None,
    dataset: str = "synthetic",
    confusion: bool = False,
    head: str | None = DEFAULT,
    modality_dropout: float | None = None,
    missing_at_test: list[str] | None = None,
    extra: dict | None = None,
    old: bool = False,
) -> Path:
    """A run's metrics.json as harlit.run writes it now: its experiment (name), head, validation subjects.
    `old`: as older runs wrote it, without head, modality_dropout, name or split settings; with
    missing_at_test as `python -m harlit.evaluate` writes it (an evaluation, with its run's name)."""
    run = root / name
    run.mkdir(parents=True)
    stage = "stage2" if modality == "fusion" else f"stage1_{modality}"
    metrics = {
        "test/top1": top1,
        "test/top5": top5,
        "test/f1_macro": f1,
        "dataset": dataset,
        "modality": modality,
        "stage": 2 if modality == "fusion" else 1,
        "seed": seed,
        "train_ratio": ratio,
        "hidden_classes": hidden or [],
        "hidden_from": hidden_from if hidden else "none",
    }
    if not old:
        metrics["name"] = f"{EXPERIMENT_PREFIX[dataset]}_{stage}"
        metrics["val_subjects"] = []
        if hidden:
            metrics["hidden_chosen_by"] = "data.num_hidden"
    if hidden:
        metrics["test/top1_hidden"] = top1_hidden
        metrics["test/top1_seen"] = top1
    if head == DEFAULT and not old:
        head = "concat_mlp" if modality == "fusion" else "linear"
    if head not in (None, DEFAULT):
        metrics["head"] = head
    if modality_dropout is not None:
        metrics["modality_dropout"] = modality_dropout
    if missing_at_test is not None:
        metrics.update({"evaluation": True, "missing_at_test": missing_at_test})
    metrics.update(extra or {})
    (run / "metrics.json").write_text(json.dumps(metrics))
    if confusion:
        (run / "confusion_matrix.json").write_text(
            json.dumps({"classes": CLASSES, "matrix": np.eye(4, dtype=int).tolist()})
        )
    return run


def write_overrides(run: Path, overrides: list[str]) -> None:
    """What Hydra leaves in <run>/.hydra/overrides.yaml: the command-line overrides of the run."""
    (run / ".hydra").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def find(rows: list[dict[str, str]], **match: str) -> dict[str, str]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_setup_labels() -> None:
    assert setup_of("imu", "none", 0) == "IMU"
    assert setup_of("imu", "both", 1) == "IMU*"
    assert setup_of("video", "video", 5) == "RGB*"
    assert setup_of("fusion", "imu", 1) == "IMU*+RGB"
    assert setup_of("fusion", "video", 1) == "RGB*+IMU"
    assert setup_of("fusion", "none", 0) == "IMU+RGB"


def test_means_stds_and_files(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for seed, top1 in enumerate([0.60, 0.70, 0.80]):
        write_run(runs, f"imu_full_{seed}", modality="imu", seed=seed, top1=top1, f1=top1 - 0.1)
    for seed, top1 in enumerate([0.40, 0.50]):
        write_run(runs, f"imu_half_{seed}", modality="imu", seed=seed, top1=top1, ratio=0.5)
    for seed, top1 in enumerate([0.90, 0.94]):
        write_run(runs, f"fusion_{seed}", modality="fusion", seed=seed, top1=top1, confusion=seed == 0)
    write_run(runs, "video_0", modality="video", seed=0, top1=0.3)
    for seed, (top1, hidden_acc) in enumerate([(0.50, 0.0), (0.56, 0.2)]):
        write_run(
            runs,
            f"zs_imu_{seed}",
            modality="imu",
            seed=seed,
            top1=top1,
            hidden=[CLASSES[seed]],
            hidden_from="both",
            top1_hidden=hidden_acc,
        )
    write_run(
        runs,
        "zs_fusion_0",
        modality="fusion",
        seed=0,
        top1=0.85,
        hidden=["a"],
        hidden_from="imu",
        top1_hidden=0.6,
    )
    (runs / "broken").mkdir()
    (runs / "broken" / "metrics.json").write_text("{not json")  # skipped, not fatal

    out = tmp_path / "report"
    written = make_report([runs], out=out)

    rows = read_csv(out / "report.csv")
    imu = find(rows, source="measured", setup="IMU", train_ratio="1.0", num_hidden="0")
    assert float(imu["top1_mean"]) == pytest.approx(70.0)
    assert float(imu["top1_std"]) == pytest.approx(10.0)  # sample std of 60, 70, 80
    assert float(imu["f1_macro_mean"]) == pytest.approx(60.0)
    assert imu["n_seeds"] == "3" and imu["seeds"] == "0 1 2"
    half = find(rows, source="measured", setup="IMU", train_ratio="0.5")
    assert float(half["top1_mean"]) == pytest.approx(45.0)
    assert float(half["top1_std"]) == pytest.approx(math.sqrt(50.0), abs=1e-4)
    fusion = find(rows, source="measured", setup="IMU+RGB")
    assert float(fusion["top1_mean"]) == pytest.approx(92.0)
    assert float(fusion["top1_std"]) == pytest.approx(math.sqrt(8.0), abs=1e-4)
    video = find(rows, source="measured", setup="RGB")
    assert video["top1_std"] == ""  # one seed: no std
    zero_shot = find(rows, source="measured", setup="IMU*", num_hidden="1")
    assert float(zero_shot["top1_hidden_mean"]) == pytest.approx(10.0)
    assert "seed 0: a" in zero_shot["hidden_classes"] and "seed 1: b" in zero_shot["hidden_classes"]
    assert find(rows, source="measured", setup="IMU*+RGB")["n_seeds"] == "1"
    quoted = find(rows, source="quoted: paper Table 2", dataset="utd_mhad", setup="IMU+RGB")
    assert float(quoted["top1_mean"]) == pytest.approx(96.05)

    report = (out / "report.md").read_text()
    assert "| synthetic | IMU only | 3 | 70.00 ± 10.00 |" in report
    assert "Quoted, not measured here" in report and "85.42" in report
    assert "Fig. 2" in report and "Fig. 3" in report
    for key in ("data_ratio", "zero_shot", "confusion"):
        assert written[key].stat().st_size > 10_000, key
        assert written[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_newest_duplicate_of_a_seed_wins(tmp_path: Path) -> None:
    old = write_run(tmp_path / "a", "old", modality="imu", seed=0, top1=0.1)
    write_run(tmp_path / "b", "new", modality="imu", seed=0, top1=0.5)
    os.utime(old / "metrics.json", (1, 1))
    make_report([tmp_path / "a", tmp_path / "b"], out=tmp_path / "out")
    row = find(read_csv(tmp_path / "out" / "report.csv"), source="measured", setup="IMU")
    assert float(row["top1_mean"]) == pytest.approx(50.0) and row["n_seeds"] == "1"
    assert "1 older duplicate" in (tmp_path / "out" / "report.md").read_text()


def test_default_output_is_first_dir(tmp_path: Path) -> None:
    write_run(tmp_path, "r", modality="imu", seed=0, top1=0.5)
    written = make_report([tmp_path])
    assert written["md"] == tmp_path / "report.md" and written["md"].is_file()


def test_directory_without_runs_is_one_sentence_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarlitError, match="no finished runs"):
        make_report([tmp_path / "empty"])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "harlit.report", str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=env,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("harlit: error:")]
    assert len(errors) == 1 and "no finished runs" in errors[0] and "Traceback" not in result.stderr


def test_report_names_no_machine_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "logs" / "sweep"
    data_root = tmp_path / "data" / "utd_mhad"
    data_root.mkdir(parents=True)
    for seed, modality in enumerate(["imu", "imu", "fusion"]):
        run = write_run(runs, f"run_{seed}", modality=modality, seed=seed, top1=0.5, confusion=seed == 2)
        write_overrides(
            run,
            [
                f"data.root={data_root}",
                "+data.cache=~/cache",
                f"data.extra='{data_root}/extra'",
                "trainer.max_epochs=2",
                f"hydra.run.dir={run}",
            ],
        )
    out = tmp_path / "reports" / "table2"
    written = make_report([runs], out=out)

    report = written["md"].read_text()
    assert "Runs read from: ../../logs/sweep. 3 runs" in report  # relative to the report's folder
    overrides = (
        "`data.root=<data.root>` `+data.cache=<data.cache>` `data.extra=<data.extra>` `trainer.max_epochs=2`"
    )
    assert f"Overrides shared by all runs: {overrides}" in report
    for kind in ("md", "csv"):
        text = written[kind].read_text()
        assert str(tmp_path) not in text, kind
        assert not MACHINE_PATH.search(text), (kind, MACHINE_PATH.search(text))

    # Relative arguments and the default output folder (the first DIR) give relative names too.
    monkeypatch.chdir(tmp_path)
    written = make_report([Path("logs/sweep"), Path("data")])
    report = written["md"].read_text()
    assert written["md"] == Path("logs/sweep/report.md")
    assert "Runs read from: ., ../../data. 3 runs" in report
    assert str(tmp_path) not in report and not MACHINE_PATH.search(report)


def fusion(root: Path, name: str, head: str, p: float, seed: int, top1: float, **kw) -> Path:
    """A stage-2 run as harlit.run writes it now (head and modality_dropout recorded)."""
    return write_run(root, name, modality="fusion", seed=seed, top1=top1, head=head, modality_dropout=p, **kw)


def evaluation(job: Path, missing: str, seed: int, top1: float, head: str, p: float, **kw) -> Path:
    """`python -m harlit.evaluate model=<job> eval.missing=[<missing>] hydra.run.dir=<job>/eval_missing_<missing>`."""
    return write_run(
        job,
        f"eval_missing_{missing}",
        modality="fusion",
        seed=seed,
        top1=top1,
        head=head,
        modality_dropout=p,
        missing_at_test=[missing] if missing != "none" else [],
        **kw,
    )


def test_old_metrics_without_head_are_head_unknown_never_the_papers(tmp_path: Path) -> None:
    """A metrics.json without head (older runs) is "head unknown": kept apart from the runs that record
    their head, and never assumed to be the paper's (nor harlit's concat_mlp)."""
    runs = tmp_path / "runs"
    write_run(runs, "fusion_old", modality="fusion", seed=0, top1=0.90, old=True)
    fusion(runs, "fusion_new", "concat_mlp", 0.0, seed=1, top1=0.94)
    write_run(runs, "imu_old", modality="imu", seed=0, top1=0.60, old=True)
    write_run(runs, "imu_new", modality="imu", seed=1, top1=0.70, head="linear", modality_dropout=0.0)
    written = make_report([runs], out=tmp_path / "out")
    rows = read_csv(written["csv"])
    new = find(rows, source="measured", setup="IMU+RGB", head="concat_mlp")
    assert (new["label"], new["n_seeds"], new["experiment"]) == ("IMU+RGB", "1", "synthetic_stage2")
    old = find(rows, source="measured", setup="IMU+RGB", head="unknown")
    assert old["n_seeds"] == "1" and old["label"].startswith("IMU+RGB [head unknown, p=0]")
    assert old["experiment"] == "" and old["val_subjects"] == "not recorded"
    assert find(rows, source="measured", setup="IMU", head="unknown")["n_seeds"] == "1"
    report = written["md"].read_text()
    table2 = report.split("## Table 2")[1].split("**Quoted")[0]
    assert "| synthetic | IMU + video | 1 | 94.00 |" in table2  # harlit's concat_mlp: its experiment's own
    assert "| synthetic | IMU + video [head unknown, p=0]" in table2
    assert "paper" not in table2
    assert "[head unknown]: runs whose metrics.json does not record its head" in report
    assert "concat_mlp is harlit's" in report and "concat_mlp_paper is the paper's head as stated" in report
    assert "Robustness" not in report and "robustness" not in written


def test_the_papers_head_is_concat_mlp_paper_and_harlits_is_concat_mlp(tmp_path: Path) -> None:
    """A *_paper stage-2 experiment with the paper's head is [paper setting]; concat_mlp_paper in a harlit
    experiment is a variant; the quoted paper rows have the paper's head in report.csv."""
    runs = tmp_path / "runs"
    for seed in (0, 1):
        fusion(runs, f"harlit{seed}", "concat_mlp", 0.0, seed, 0.9)
        fusion(
            runs, f"paper{seed}", "concat_mlp_paper", 0.0, seed, 0.8, extra={"name": "synthetic_stage2_paper"}
        )
        fusion(runs, f"head{seed}", "concat_mlp_paper", 0.0, seed, 0.7)
    written = make_report([runs], out=tmp_path / "out")
    table2 = written["md"].read_text().split("## Table 2")[1]
    assert "| synthetic | IMU + video [harlit setting] | 2 | 90.00 ± 0.00 |" in table2
    assert "| synthetic | IMU + video [paper setting] | 2 | 80.00 ± 0.00 |" in table2
    assert "| synthetic | IMU + video [concat_mlp_paper, p=0] | 2 | 70.00 ± 0.00 |" in table2
    rows = read_csv(written["csv"])
    quoted = find(rows, source="quoted: paper Table 2", dataset="mmact", setup="IMU+RGB")
    assert quoted["head"] == "concat_mlp_paper"
    assert find(rows, source="quoted: paper Table 2", dataset="mmact", setup="IMU")["head"] == "linear"


def test_heads_and_dropout_are_separate_rows(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    grid = {("concat_mlp", 0.0): (0.90, 0.94), ("late", 0.0): (0.80, 0.84), ("concat_mlp", 0.3): (0.70, 0.72)}
    grid[("gated", 0.3)] = (0.60, 0.62)
    for (head, p), values in grid.items():
        for seed, top1 in enumerate(values):
            fusion(runs, f"{head}_{p}_{seed}", head, p, seed, top1)
            # Zero-shot fusion of the same head: its bars and baseline stay with that head.
            fusion(runs, f"zs_{head}_{p}_{seed}", head, p, seed, top1 - 0.1, hidden=["a"], hidden_from="imu")
            fusion(runs, f"half_{head}_{p}_{seed}", head, p, seed, top1 - 0.2, ratio=0.5)
    written = make_report([runs], out=tmp_path / "out")

    rows = read_csv(written["csv"])
    plain = [
        r for r in rows if r["source"] == "measured" and r["setup"] == "IMU+RGB" and r["train_ratio"] == "1.0"
    ]
    assert len(plain) == 4
    for (head, p), values in grid.items():
        row = find(
            rows, source="measured", setup="IMU+RGB", head=head, modality_dropout=str(p), train_ratio="1.0"
        )
        assert float(row["top1_mean"]) == pytest.approx(100 * np.mean(values)) and row["n_seeds"] == "2"

    report = written["md"].read_text()
    table2 = report.split("## Table 2")[1].split("**Quoted")[0]
    assert "| synthetic | IMU + video | 2 | 92.00 ± 2.83 |" in table2  # the paper's setting: label unchanged
    assert "| synthetic | IMU + video [late, p=0] | 2 | 82.00 ± 2.83 |" in table2
    assert "| synthetic | IMU + video [concat_mlp, p=0.3] | 2 | 71.00 ± 1.41 |" in table2
    assert "| synthetic | IMU + video [gated, p=0.3] | 2 | 61.00 ± 1.41 |" in table2
    assert "Other heads and modality dropout p > 0 are kept apart and labelled [head, p]" in report
    assert "A row without a [head, p] label is its experiment's own model: harlit's concat_mlp, p=0" in report
    # Fig. 2 and Fig. 3 tables: one row per head and dropout, never merged.
    ratio = report.split("## Fig. 2")[1].split("## Fig. 3")[0]
    assert "| IMU+RGB [late, p=0] | 62.00 ± 2.83 (n=2) | 82.00 ± 2.83 (n=2) |" in ratio
    zero = report.split("## Fig. 3")[1].split("## All groups")[0]
    assert "| IMU*+RGB | 92.00 ± 2.83 (n=2) | 82.00 ± 2.83 (n=2) |" in zero
    assert "| IMU*+RGB [late, p=0] | 82.00 ± 2.83 (n=2) | 72.00 ± 2.83 (n=2) |" in zero
    assert "| IMU*+RGB [gated, p=0.3] | 61.00 ± 1.41 (n=2) | 51.00 ± 1.41 (n=2) |" in zero
    for key in ("data_ratio", "zero_shot"):
        assert written[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_robustness_table(tmp_path: Path) -> None:
    """Evaluations with a modality missing feed the robustness table only; numbers by hand."""
    runs = tmp_path / "runs"
    # Stage 1: the reference single-modality models (and one at half the data, not a reference).
    for seed, top1 in enumerate([0.70, 0.80]):
        write_run(runs / "imu_seeds", str(seed), modality="imu", seed=seed, top1=top1, head="linear")
    for seed, top1 in enumerate([0.40, 0.50, 0.60]):
        write_run(runs / "video_seeds", str(seed), modality="video", seed=seed, top1=top1)
    write_run(runs, "imu_half", modality="imu", seed=0, top1=0.1, ratio=0.5)
    # concat_mlp, p=0: both 90, 92, 94; IMU only 70, 74, 72; video only 50, 62, 56.
    sweep = runs / "fusion_robustness"
    paper = {0: (0.90, 0.70, 0.50), 1: (0.92, 0.74, 0.62), 2: (0.94, 0.72, 0.56)}
    for seed, (both, imu_only, video_only) in paper.items():
        job = fusion(sweep, str(seed), "concat_mlp", 0.0, seed, both, confusion=True)
        evaluation(job, "video", seed, imu_only, "concat_mlp", 0.0, confusion=True)
        evaluation(job, "imu", seed, video_only, "concat_mlp", 0.0)
        evaluation(job, "none", seed, 0.05, "concat_mlp", 0.0)  # both present: not used
    # late, p=0.3: both 88, 90; IMU only 80, 84; video only 60 (seed 0 only).
    for seed, (both, imu_only) in enumerate([(0.88, 0.80), (0.90, 0.84)]):
        job = fusion(sweep, f"late_{seed}", "late", 0.3, seed, both)
        evaluation(job, "video", seed, imu_only, "late", 0.3)
        if seed == 0:
            evaluation(job, "imu", seed, 0.60, "late", 0.3)
    # An evaluation of a model trained on half the data: not in the table.
    job = fusion(runs, "fusion_half", "concat_mlp", 0.0, 0, 0.5, ratio=0.5)
    evaluation(job, "imu", 0, 0.3, "concat_mlp", 0.0, ratio=0.5)

    written = make_report([runs], out=tmp_path / "out")
    report = written["md"].read_text()

    # Evaluations are not training runs: Table 2 and the groups hold the training runs only.
    table2 = report.split("## Table 2")[1].split("**Quoted")[0]
    assert "| synthetic | IMU + video | 3 | 92.00 ± 2.00 |" in table2
    assert "| synthetic | IMU + video [late, p=0.3] | 2 | 89.00 ± 1.41 |" in table2
    assert "evaluation" not in report.split("## All groups")[1]
    assert "10 with a modality missing at test" in report and "3 with both modalities present" in report
    rows = read_csv(written["csv"])
    assert len([r for r in rows if r["source"] == "measured" and r["setup"] == "IMU+RGB"]) == 3
    assert (
        find(rows, source="measured", setup="IMU+RGB", head="concat_mlp", train_ratio="1.0")["n_seeds"] == "3"
    )

    robust = report.split("## Robustness")[1].split("## All groups")[0]
    # Drops per seed: IMU only 20, 18, 22 -> 20 ± 2; video only 40, 30, 38 -> 36 ± sqrt(28) = 36 ± 5.29.
    assert (
        "| synthetic | IMU+RGB, concat_mlp (harlit's head), p=0 | 3 | 92.00 ± 2.00 | 72.00 ± 2.00 | "
        "56.00 ± 6.00 | 20.00 ± 2.00 | 36.00 ± 5.29 |"
    ) in robust
    assert (
        "| synthetic | IMU+RGB, late, p=0.3 | 2 | 89.00 ± 1.41 | 82.00 ± 2.83 | 60.00 (n=1) | 7.00 ± 1.41 | "
        "28.00 (n=1) |"
    ) in robust
    assert (
        "| synthetic | IMU-only model (stage 1, reference, synthetic_stage1_imu) | 2 |  | 75.00 ± 7.07 |  |  |  |"
    ) in robust
    assert (
        "| synthetic | video-only model (stage 1, reference, synthetic_stage1_video) | 3 |  |  | 50.00 ± 10.00 |"
    ) in robust
    assert "paper" not in robust.split("concat_mlp_paper the paper's as stated")[1]
    assert "1 evaluation(s) of models trained on part of the data" in robust
    assert "[robustness.png](robustness.png)" in report

    missing = "measured: modality missing at test"
    imu_only = find(rows, source=missing, head="concat_mlp", missing_at_test="video")
    assert float(imu_only["top1_mean"]) == pytest.approx(72.0) and float(
        imu_only["top1_std"]
    ) == pytest.approx(2.0)
    assert float(imu_only["top1_drop_mean"]) == pytest.approx(20.0)
    video_only = find(rows, source=missing, head="concat_mlp", missing_at_test="imu")
    assert float(video_only["top1_drop_mean"]) == pytest.approx(36.0)
    assert float(video_only["top1_drop_std"]) == pytest.approx(math.sqrt(28.0), abs=1e-4)
    late = find(rows, source=missing, head="late", missing_at_test="imu")
    assert (late["n_seeds"], float(late["modality_dropout"]), late["top1_std"]) == ("1", 0.3, "")

    assert written["robustness"].stat().st_size > 10_000
    assert written["robustness"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_that_saw_their_test_imu_in_training_are_marked(tmp_path: Path) -> None:
    from harlit.data.mmact import IMU_SEEN_KEY
    from harlit.report.runs import IMU_SEEN_KEY as REPORT_KEY
    from harlit.report.tables import IMU_SEEN_NOTE

    assert REPORT_KEY == IMU_SEEN_KEY  # the key the MMAct datamodule writes is the one the report reads
    runs = tmp_path / "runs"
    for seed in (0, 1):  # MMAct cross_view fusion: flagged
        write_run(
            runs,
            f"fusion_{seed}",
            modality="fusion",
            seed=seed,
            top1=0.9,
            dataset="mmact",
            extra={IMU_SEEN_KEY: True},
        )
        write_run(
            runs,
            f"fusion_half_{seed}",
            modality="fusion",
            seed=seed,
            top1=0.8,
            ratio=0.5,
            dataset="mmact",
            extra={IMU_SEEN_KEY: True},
        )
    write_run(
        runs, "video_0", modality="video", seed=0, top1=0.7, dataset="mmact", extra={IMU_SEEN_KEY: False}
    )
    write_run(runs, "imu_0", modality="imu", seed=0, top1=0.6, dataset="mmact")  # older run: no key
    written = make_report([runs], out=tmp_path / "out")

    report = written["md"].read_text()
    assert IMU_SEEN_NOTE in report and IMU_SEEN_NOTE.startswith("† test IMU recordings seen in training")
    assert "| mmact | IMU + video † | 2 | 90.00 ± 0.00 |" in report  # Table 2
    assert "| IMU+RGB † | 80.00 ± 0.00 (n=2) | 90.00 ± 0.00 (n=2) |" in report  # Fig. 2
    assert "| mmact | IMU+RGB † | 1 | 0 | 2 |" in report and "| mmact | IMU+RGB † | 0.5 | 0 | 2 |" in report
    for label in ("IMU only", "video only", "IMU", "RGB"):
        assert f"| {label} †" not in report
    rows = read_csv(written["csv"])
    assert find(rows, source="measured", setup="IMU+RGB", train_ratio="1.0")[IMU_SEEN_KEY] == "True"
    assert find(rows, source="measured", setup="RGB")[IMU_SEEN_KEY] == "False"
    assert find(rows, source="measured", setup="IMU")[IMU_SEEN_KEY] == "False"

    # Without a flagged run there is neither note nor mark.
    clean = make_report([runs / "video_0"], out=tmp_path / "clean")["md"].read_text()
    assert "†" not in clean


def test_paper_setting_and_harlit_setting_rows_stay_apart(tmp_path: Path) -> None:
    """Runs of a *_paper experiment (the paper's stated setting) and of harlit's tuned one are two rows."""
    runs = tmp_path / "runs"
    for seed, top1 in enumerate((0.78, 0.80, 0.79)):
        write_run(
            runs,
            f"paper{seed}",
            modality="imu",
            seed=seed,
            top1=top1,
            dataset="utd_mhad",
            extra={"name": "utd_stage1_imu_paper"},
        )
    for seed, top1 in enumerate((0.91, 0.92, 0.90)):
        write_run(
            runs,
            f"harlit{seed}",
            modality="imu",
            seed=seed,
            top1=top1,
            dataset="utd_mhad",
            extra={"name": "utd_stage1_imu"},
        )
    report = make_report([runs], out=tmp_path / "out")["md"].read_text()
    assert "| utd_mhad | IMU only [paper setting] | 3 | 79.00 ± 1.00 |" in report
    assert "| utd_mhad | IMU only [harlit setting] | 3 | 91.00 ± 1.00 |" in report


def test_settings_that_differ_only_in_validation_subjects_are_two_rows(tmp_path: Path) -> None:
    """Same dataset, setup, ratio and seeds, other validation subjects: two groups, neither drops the
    other's seeds as an older duplicate, and every table says which is which."""
    runs = tmp_path / "runs"
    for val, top1 in (([3], 0.6), ([5], 0.8)):
        for seed in (0, 1):
            write_run(
                runs,
                f"val{val[0]}_{seed}",
                modality="imu",
                seed=seed,
                top1=top1 + seed / 100,
                dataset="utd_mhad",
                extra={"val_subjects": val, "train_subjects": [1, 3, 5, 7], "test_subjects": [2, 4, 6, 8]},
            )
            write_run(
                runs,
                f"half_val{val[0]}_{seed}",
                modality="imu",
                seed=seed,
                top1=top1 - 0.1,
                ratio=0.5,
                dataset="utd_mhad",
                extra={"val_subjects": val, "train_subjects": [1, 3, 5, 7], "test_subjects": [2, 4, 6, 8]},
            )
    written = make_report([runs], out=tmp_path / "out")
    report = written["md"].read_text()
    assert "older duplicate" not in report and "8 runs in 4 groups" in report
    table2 = report.split("## Table 2")[1].split("**Quoted")[0]
    assert "| utd_mhad | IMU only (val_subjects=[3]) | 2 | 60.50 ± 0.71 |" in table2
    assert "| utd_mhad | IMU only (val_subjects=[5]) | 2 | 80.50 ± 0.71 |" in table2
    ratio = report.split("## Fig. 2")[1]
    assert "| IMU (val_subjects=[3]) | 50.00 ± 0.00 (n=2) | 60.50 ± 0.71 (n=2) |" in ratio
    assert "(val_subjects=[3])" in report and "are split and name it in parentheses" in report
    rows = [r for r in read_csv(written["csv"]) if r["source"] == "measured" and r["train_ratio"] == "1.0"]
    assert sorted(r["val_subjects"] for r in rows) == ["[3]", "[5]"]
    assert {r["train_subjects"] for r in rows} == {"[1, 3, 5, 7]"}  # shown only where it differs


def test_settings_that_differ_only_in_protocol_are_two_rows(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for protocol, top1 in (("cross_subject", 0.6), ("cross_scene", 0.4)):
        split = {"protocol": protocol, "classes": 37, "val_subjects": []}
        split.update(
            {"train_subjects": list(range(1, 17)), "test_subjects": [17, 18, 19, 20]}
            if protocol == "cross_subject"
            else {"test_scenes": [2]}
        )
        for seed in (0, 1):
            write_run(
                runs, f"{protocol}_{seed}", modality="imu", seed=seed, top1=top1, dataset="mmact", extra=split
            )
    written = make_report([runs], out=tmp_path / "out")
    report = written["md"].read_text()
    assert "older duplicate" not in report and "4 runs in 2 groups" in report
    table2 = report.split("## Table 2")[1].split("**Quoted")[0]
    # The protocols differ, and so do the subjects and scenes that define each.
    assert (
        "| mmact | IMU only (protocol=cross_subject; train_subjects=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, "
        "13, 14, 15, 16]; test_subjects=[17, 18, 19, 20]) | 2 | 60.00 ± 0.00 |"
    ) in table2
    assert ("| mmact | IMU only (protocol=cross_scene; test_scenes=[2]) | 2 | 40.00 ± 0.00 |") in table2
    rows = [r for r in read_csv(written["csv"]) if r["source"] == "measured"]
    assert sorted((r["protocol"], r["classes"]) for r in rows) == [
        ("cross_scene", "37"),
        ("cross_subject", "37"),
    ]


def test_runs_of_other_experiments_or_hidden_settings_stay_apart(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for seed in (0, 1):
        write_run(runs, f"a{seed}", modality="imu", seed=seed, top1=0.5)
        write_run(runs, f"b{seed}", modality="imu", seed=seed, top1=0.7, extra={"name": "my_imu"})
        for hidden_from, top1 in (("imu", 0.3), ("both", 0.2)):
            write_run(
                runs,
                f"zs_{hidden_from}{seed}",
                modality="imu",
                seed=seed,
                top1=top1,
                hidden=["a"],
                hidden_from=hidden_from,
                top1_hidden=0.0,
                extra={"hidden_chosen_by": "data.hidden_classes"},
            )
    report = make_report([runs], out=tmp_path / "out")["md"].read_text()
    assert "older duplicate" not in report and "8 runs in 4 groups" in report
    assert "| IMU only (experiment=synthetic_stage1_imu) | 2 | 50.00 ± 0.00 |" in report
    assert "| IMU only (experiment=my_imu) | 2 | 70.00 ± 0.00 |" in report
    zero = report.split("## Fig. 3")[1].split("## All groups")[0]
    assert "| IMU* (hidden_from=imu) |" in zero and "| IMU* (hidden_from=both) |" in zero


def test_a_stage1_run_inside_a_stage2_job_counts_once(tmp_path: Path) -> None:
    """A stage-2 job trains its missing stage-1 encoder into <job>/stage1_imu; the registry keeps a copy
    of that run's metrics.json (with source_run). Read together, the run counts once, and is no
    'older duplicate'; a true rerun of the seed still is."""
    logs = tmp_path / "root" / "logs"
    job = fusion(logs / "sweep", "0", "concat_mlp", 0.0, 0, 0.9, extra={"run_dir": str(logs / "sweep" / "0")})
    sub = write_run(
        job, "stage1_imu", modality="imu", seed=0, top1=0.6, extra={"run_dir": str(job / "stage1_imu")}
    )
    registry = tmp_path / "root" / "checkpoints" / "stage1" / "synthetic"
    copy = json.loads((sub / "metrics.json").read_text())
    (registry / "imu-0123").mkdir(parents=True)
    (registry / "imu-0123" / "metrics.json").write_text(json.dumps({**copy, "source_run": str(sub)}))
    written = make_report([tmp_path / "root"], out=tmp_path / "out")
    report = written["md"].read_text()
    assert "2 runs in 2 groups; 1 second copy(ies) of a run" in report and "older duplicate" not in report
    assert find(read_csv(written["csv"]), source="measured", setup="IMU")["n_seeds"] == "1"
    rerun = write_run(logs / "again", "stage1_imu", modality="imu", seed=0, top1=0.7)
    os.utime(rerun / "metrics.json", (4e9, 4e9))
    report = make_report([tmp_path / "root"], out=tmp_path / "out2")["md"].read_text()
    assert "1 older duplicate run(s) of a seed ignored; 1 second copy(ies)" in report


def test_robustness_keeps_data_settings_apart_with_their_own_references(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for val, (both, imu_only, reference) in (([1], (0.9, 0.7, 0.6)), ([3], (0.8, 0.5, 0.4))):
        split = {"val_subjects": val}
        for seed in (0, 1):
            job = fusion(runs, f"f{val[0]}_{seed}", "concat_mlp", 0.0, seed, both, extra=split)
            evaluation(job, "video", seed, imu_only, "concat_mlp", 0.0, extra=split)
            write_run(runs, f"imu{val[0]}_{seed}", modality="imu", seed=seed, top1=reference, extra=split)
    written = make_report([runs], out=tmp_path / "out")
    robust = written["md"].read_text().split("## Robustness")[1].split("## All groups")[0]
    assert (
        "| synthetic (val_subjects=[1]) | IMU+RGB, concat_mlp (harlit's head), p=0 (val_subjects=[1]) | 2 | "
        "90.00 ± 0.00 | 70.00 ± 0.00 | – | 20.00 ± 0.00 | – |"
    ) in robust
    assert (
        "| synthetic (val_subjects=[3]) | IMU-only model (stage 1, reference, synthetic_stage1_imu) "
        "(val_subjects=[3]) | 2 |  | 40.00 ± 0.00 |"
    ) in robust
    assert robust.count("IMU-only model") == 2 and written["robustness"].is_file()
