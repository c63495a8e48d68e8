"""Hydra launchers: submitit (SLURM config, local executor), a missing plugin, and concurrent sweep jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch

from harlit import launchers
from harlit.errors import HarlitError
from harlit.models.s3d import S3DEncoder
from harlit.registry import CheckpointRegistry
from tests.conftest import REPO_ROOT, run_harlit, subprocess_env, tiny_stage2


def test_the_launcher_choice_is_read_from_the_command_line() -> None:
    assert (
        launchers.requested_launcher(["-m", "seed=0,1", "hydra/launcher=submitit_slurm"]) == "submitit_slurm"
    )
    assert launchers.requested_launcher(["+hydra/launcher=joblib"]) == "joblib"
    assert launchers.requested_launcher(["seed=1"]) is None


def test_a_missing_launcher_plugin_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hydra_plugins.hydra_submitit_launcher.submitit_launcher", None)
    with pytest.raises(HarlitError) as err:
        launchers.check_launcher_plugin(["-m", "hydra/launcher=submitit_slurm"])
    message = str(err.value)
    assert "hydra-submitit-launcher" in message and "pip install" in message and "\n" not in message
    launchers.check_launcher_plugin(["-m", "seed=0,1"])  # the basic launcher needs nothing


def test_the_cli_names_the_missing_plugin_without_a_traceback(tmp_path: Path) -> None:
    # The plugin module is hidden from this one process (None in sys.modules makes its import fail).
    code = (
        "import sys; sys.modules['hydra_plugins.hydra_submitit_launcher.submitit_launcher'] = None; "
        "sys.argv = ['harlit', '-m', 'hydra/launcher=submitit_slurm', 'seed=0,1']; "
        "from harlit.run import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("harlit: error:")]
    assert len(errors) == 1 and "hydra-submitit-launcher" in errors[0]
    assert "Traceback" not in result.stderr


def test_submitit_slurm_gives_one_task_per_gpu_and_requeues(make_cfg, tmp_path: Path, monkeypatch) -> None:
    cfg = make_cfg(
        ["hydra/launcher=submitit_slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
    )
    launcher_cfg = cfg.hydra.launcher
    assert launcher_cfg.tasks_per_node == 4 and launcher_cfg.gpus_per_node == 4 and launcher_cfg.nodes == 2
    assert launcher_cfg.additional_parameters.requeue is True and launcher_cfg.max_num_timeout > 0
    launcher = hydra.utils.instantiate(launcher_cfg)  # the plugin accepts every key
    assert type(launcher).__name__ == "SlurmLauncher"
    # The sbatch script submitit would submit, with the parameters mapped as the launcher maps them.
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf
    from submitit import AutoExecutor

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")  # SlurmExecutor looks for srun
    executor = AutoExecutor(
        folder=tmp_path, cluster="slurm", slurm_max_num_timeout=launcher.params["max_num_timeout"]
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {
        k if k in base else f"slurm_{k}": v
        for k, v in launcher.params.items()
        if k not in ("submitit_folder", "max_num_timeout")
    }
    executor.update_parameters(**params)
    sbatch = executor._executor._make_submission_file_text("python -m submitit", "uid")
    for line in ("--ntasks-per-node=4", "--gpus-per-node=4", "--nodes=2", "--requeue"):
        assert line in sbatch, line


def _video_encoder_file(path: Path) -> Path:
    """A stage-1 video encoder file of the synthetic defaults, without training one."""
    from harlit.config import compose_config
    from harlit.encoder_file import EncoderFile
    from harlit.stage1 import plain_job_config

    torch.manual_seed(0)
    cfg = compose_config(["+experiment=synthetic_stage1_video", f"paths.output_dir={path.parent}"])
    preprocessing = {"video": {"num_frames": 8, "frame_size": 32, "resize": "squash"}}
    EncoderFile("video", S3DEncoder().state_dict(), plain_job_config(cfg), preprocessing, {}).save(path)
    return path


@pytest.mark.slow
def test_submitit_local_sweep_trains_a_shared_missing_encoder_once(tmp_path: Path) -> None:
    """Two stage-2 jobs start at once (submitit's local executor runs them in parallel) and both need
    the same missing stage-1 IMU encoder: one trains it, the other waits for it and reuses it."""
    video = _video_encoder_file(tmp_path / "video_encoder.pt")
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "hydra/launcher=submitit_local",
        "+experiment=synthetic_stage2",
        *tiny_stage2(),
        f"model.video_ckpt={video}",
        "model.head.hidden_dim=32,64",
        f"hydra.sweep.dir={sweep}",
    ]
    result = run_harlit(args, tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    jobs = [sweep / "0", sweep / "1"]
    metrics = [json.loads((job / "metrics.json").read_text()) for job in jobs]
    trained_here = [job for job in jobs if (job / "stage1_imu" / "metrics.json").is_file()]
    assert len(trained_here) == 1  # trained once
    registry = CheckpointRegistry(tmp_path / "checkpoints" / "stage1")
    entries = [p for p in (registry.root / "synthetic").iterdir() if p.name.startswith("imu-")]
    assert len(entries) == 1
    encoder = entries[0] / "encoder.pt"
    assert {m["imu_ckpt"] for m in metrics} == {str(encoder)}  # both jobs use it
    assert all(m["video_ckpt"] == str(video) for m in metrics)
    key = json.loads((entries[0] / "key.json").read_text())
    stored = torch.load(encoder, weights_only=True)
    assert stored["key"] == key and stored["modality"] == "imu"
    source = json.loads((entries[0] / "metrics.json").read_text())["source_run"]
    assert source == str(trained_here[0] / "stage1_imu")
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")) == ["0", "1"]
