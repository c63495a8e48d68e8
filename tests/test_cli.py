"""The command line as a user runs it: one tiny run, and one-sentence errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TINY, run_harlit


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_harlit(args, tmp_path)


def test_tiny_run_writes_metrics_json_and_config(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "+experiment=synthetic_stage1_imu", *TINY)
    assert result.returncode == 0, result.stderr[-2000:]
    [metrics_file] = list((tmp_path / "logs" / "synthetic_stage1_imu" / "runs").glob("*/metrics.json"))
    metrics = json.loads(metrics_file.read_text())
    for key in ("test/top1", "test/top5", "test/f1_macro"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["test/top5"] >= metrics["test/top1"]
    assert (metrics["dataset"], metrics["stage"], metrics["modality"]) == ("synthetic", 1, "imu")
    assert "max_epochs: 1" in (metrics_file.parent / "config.yaml").read_text()
    assert (metrics_file.parent / "confusion_matrix.json").is_file()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["+experiment=no_such_experiment"], "Could not find 'experiment/no_such_experiment'"),
        (["data=no_such_dataset"], "Could not find 'data/no_such_dataset'"),
        (
            ["+experiment=synthetic_stage1_imu", "data.train_ratio=0"],
            "harlit: error: data.train_ratio must be in (0, 1]",
        ),
        (
            ["+experiment=synthetic_stage1_imu", "data.train_ratio=1.5"],
            "harlit: error: data.train_ratio must be in (0, 1]",
        ),
        (
            ["+experiment=synthetic_stage1_video", "model.video.trainable_blocks=[Mixed_9z]"],
            "harlit: error: unknown S3D block 'Mixed_9z'",
        ),
    ],
)
def test_user_errors_are_one_sentence_without_traceback(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = run_cli(tmp_path, *args, *TINY)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_sweep_optimises_a_validation_metric_never_the_test_split(make_cfg) -> None:
    from harlit.errors import HarlitError
    from harlit.train import train, validate

    with pytest.raises(HarlitError, match="optimized_metric=test/top1 is not a validation metric"):
        validate(make_cfg(["+experiment=synthetic_stage1_imu", "optimized_metric=test/top1"]))
    held_out = train(
        make_cfg(
            ["+experiment=synthetic_stage1_imu", "data.num_subjects=4", "data.val_subjects=[3]"], run="val"
        )
    )
    assert held_out["optimized_metric"] == "val/top1"
    assert held_out["optimized_value"] == held_out["val/top1"] and 0.0 <= held_out["val/top1"] <= 1.0
    no_validation = train(make_cfg(["+experiment=synthetic_stage1_imu"], run="plain"))
    assert no_validation["optimized_value"] is None and "val/top1" not in no_validation


def test_the_command_line_returns_the_validation_value_and_says_when_there_is_none(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "-m", "+experiment=synthetic_stage1_imu", *TINY, f"hydra.sweep.dir={tmp_path / 's'}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "selecting settings needs validation subjects (data.val_subjects=[...])"
        in result.stdout + result.stderr
    )
