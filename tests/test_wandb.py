"""W&B logging stays offline, writes its run files, and gives every multirun job its own run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from harlit.train import train

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = [
    "data.num_subjects=2",
    "data.repetitions=1",
    "data.imu_length=64",
    "data.batch_size=12",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
]


def offline_runs(root: Path) -> list[Path]:
    return sorted(root.rglob("offline-run-*"))


def wandb_records(path: Path) -> bytes:
    """The payloads of a .wandb transaction log (LevelDB log format), without block framing."""
    raw = path.read_bytes()
    assert raw[:4] == b":W&B", path
    block, pos, out = 32768, 7, bytearray()
    while pos + 7 <= len(raw):
        left = block - pos % block
        length, kind = int.from_bytes(raw[pos + 4 : pos + 6], "little"), raw[pos + 6]
        if left < 7 or (length == 0 and kind == 0):  # trailer or zero padding up to the block's end
            pos += left
            continue
        out += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
    return bytes(out)


def test_offline_run_writes_its_files(make_cfg, tmp_path: Path) -> None:
    metrics = train(
        make_cfg(["+experiment=synthetic_stage1_imu", "logger=wandb", "data.num_hidden=2"], run="wb")
    )
    runs = offline_runs(tmp_path / "wb" / "wandb")
    assert len(runs) == 1, runs
    log_file = next(runs[0].glob("run-*.wandb"))
    # Group, tags, config and the test details are in the run's transaction log.
    expected = (
        b"synthetic_stage1_imu",
        b"dataset:synthetic",
        b"stage:1",
        b"ratio:1",
        b"hidden:both:2",
        b"imu_length",
        b"test/top1",
        b"test/confusion_matrix",
        b"test/f1_per_class",
    )
    # W&B's service process writes the log; give a loaded machine a few seconds to flush it.
    deadline = time.monotonic() + 30
    while True:
        data = wandb_records(log_file)
        missing = [e for e in expected if e not in data]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not missing, (missing, len(data))
    assert (tmp_path / "wb" / "metrics.json").is_file() and metrics["test/top1"] >= 0


def test_csv_logger_needs_no_wandb(make_cfg, tmp_path: Path) -> None:
    train(make_cfg(["+experiment=synthetic_stage1_imu", "logger=csv"], run="csv"))
    assert (tmp_path / "csv" / "csv" / "metrics.csv").is_file()
    assert not offline_runs(tmp_path)


def test_two_multirun_jobs_become_two_wandb_runs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HARLIT_ROOT": str(tmp_path),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "harlit.run",
        "-m",
        "+experiment=synthetic_stage1_imu",
        "logger=wandb",
        "seed=0,1",
        *TINY_RUN,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = offline_runs(sweep_dir)
    assert [r.parent.parent.name for r in runs] == ["0", "1"]  # one run in each job's folder
    ids = {r.name.rsplit("-", 1)[-1] for r in runs}
    assert len(ids) == 2
    assert "already in progress" not in result.stderr
    # Both jobs share the sweep's group, so W&B shows them together.
    group = f"synthetic_stage1_imu/{sweep_dir.name}".encode()
    assert all(group in next(r.glob("run-*.wandb")).read_bytes() for r in runs)
