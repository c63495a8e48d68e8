"""Resume after preemption: atomic checkpoints, resume=true, and a SIGKILL mid-epoch that changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from harlit import checkpointing
from harlit.checkpointing import AtomicCheckpointIO, find_resume_checkpoint, resume_checkpoint, resume_mode
from harlit.errors import HarlitError
from harlit.train import train
from tests.conftest import REPO_ROOT, TINY, run_harlit

HELPERS = REPO_ROOT / "tests" / "helpers"
# 12 training samples in batches of 4: 3 steps per epoch; augmentation and dropout draw random numbers.
IMU_RUN = [
    "+experiment=synthetic_stage1_imu",
    *TINY,
    "data.batch_size=4",
    "trainer.max_epochs=3",
    "trainer=cpu",
    "trainer.deterministic=true",
]
FINAL_METRICS = ("test/top1", "test/top5", "test/f1_macro", "test/loss")


def run_cli(args: list[str], root: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return run_harlit(args, root, timeout=timeout, helpers=True)


def test_a_failed_checkpoint_write_leaves_the_previous_one_whole(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1, "weights": torch.ones(1000)}, path)

    def dies_half_way(obj, handle) -> None:
        handle.write(b"\x80\x02half a pickle")
        raise OSError("killed while writing")

    monkeypatch.setattr(checkpointing.torch, "save", dies_half_way)
    with pytest.raises(OSError):
        io.save_checkpoint({"epoch": 2, "weights": torch.zeros(1000)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temp file left behind


def test_resume_picks_the_newest_whole_checkpoint(tmp_path: Path) -> None:
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    assert find_resume_checkpoint(tmp_path) is None
    (ckpts / "epoch_000.ckpt").write_bytes(b"x")
    (ckpts / ".last.ckpt.abc.tmp").write_bytes(b"partial")  # a write that was killed
    time.sleep(0.01)
    (ckpts / "last.ckpt").write_bytes(b"x")
    os.utime(ckpts / "epoch_000.ckpt", ns=(1, 1))
    assert find_resume_checkpoint(tmp_path) == ckpts / "last.ckpt"
    time.sleep(0.01)
    (ckpts / "preempted.ckpt").write_bytes(b"x")
    assert find_resume_checkpoint(tmp_path) == ckpts / "preempted.ckpt"


def test_resume_with_nothing_to_resume_is_one_sentence(make_cfg) -> None:
    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "resume=true"])
    with pytest.raises(HarlitError) as err:
        train(cfg)
    assert "holds no checkpoint to resume from" in str(err.value) and "hydra.run.dir" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_requeued_slurm_job_resumes_by_itself(make_cfg, monkeypatch, tmp_path: Path) -> None:
    cfg = make_cfg(["+experiment=synthetic_stage1_imu"])
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert resume_mode(cfg) == "false"
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert resume_mode(cfg) == "auto"
    assert resume_checkpoint(cfg, tmp_path / "fresh") is None  # auto: nothing there, start fresh
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)
    (tmp_path / "old" / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resume_checkpoint(cfg, tmp_path / "old") == str(tmp_path / "old" / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    reference = run_cli([*IMU_RUN, f"hydra.run.dir={tmp_path / 'reference'}"], tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]

    run_dir = tmp_path / "interrupted"
    # Killed after step 5 of 9: in epoch 1, two of its three batches done; the newest checkpoint is epoch 0's.
    killed = run_cli(
        [
            *IMU_RUN,
            f"hydra.run.dir={run_dir}",
            "+callbacks.kill._target_=harlit_testkit.KillAtStep",
            "+callbacks.kill.step=5",
        ],
        tmp_path,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (run_dir / "metrics.json").exists()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 0

    resumed = run_cli([*IMU_RUN, f"hydra.run.dir={run_dir}", "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stdout + resumed.stderr
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    got = json.loads((run_dir / "metrics.json").read_text())
    for key in FINAL_METRICS:
        assert got[key] == expected[key], key
    ref_state = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", weights_only=False)[
        "state_dict"
    ]
    got_state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(ref_state[k], got_state[k]) for k in ref_state)  # the very same weights


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_that_resume_continues(tmp_path: Path) -> None:
    run_dir = tmp_path / "preempted"
    stopped = run_cli(
        [
            *IMU_RUN,
            f"hydra.run.dir={run_dir}",
            "+callbacks.kill._target_=harlit_testkit.KillAtStep",
            "+callbacks.kill.step=5",
            "+callbacks.kill.signal_name=SIGTERM",
        ],
        tmp_path,
    )
    assert stopped.returncode == 143 and not (run_dir / "metrics.json").exists()  # 128 + SIGTERM
    preempted = run_dir / "checkpoints" / "preempted.ckpt"
    assert torch.load(preempted, weights_only=True)["global_step"] == 5  # saved mid-epoch, at the signal
    assert find_resume_checkpoint(run_dir) == preempted
    resumed = run_cli([*IMU_RUN, f"hydra.run.dir={run_dir}", "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from {preempted}" in resumed.stdout + resumed.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["num_test"] == 12
