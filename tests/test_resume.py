"""Resume after preemption: atomic checkpoints, resume=true, and a SIGKILL or a SIGTERM mid-epoch that
changes nothing: the resumed run ends with the very weights and metrics of an uninterrupted one."""

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
from harlit.data.sampling import split_loader
from harlit.errors import HarlitError
from harlit.fastpath import DeviceBatches
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
# In-process runs of IMU_RUN: harlit's configs, its train(), and a real SIGTERM to this process.
STOP_AT_STEP_4 = [
    "+callbacks.kill._target_=tests.helpers.harlit_testkit.KillAtStep",
    "+callbacks.kill.step=4",  # epoch 1 of 0-2, one of its three batches done
    "+callbacks.kill.signal_name=SIGTERM",
]


def run_cli(args: list[str], root: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return run_harlit(args, root, timeout=timeout, helpers=True)


def same_weights(reference: Path, other: Path) -> bool:
    """Whether two run directories' last checkpoints hold bit-identical weights."""
    ref = torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    got = torch.load(other / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)


def test_sigterm_mid_epoch_then_resume_equals_an_uninterrupted_run(make_cfg, tmp_path: Path) -> None:
    reference = train(make_cfg(IMU_RUN, run="reference"))

    with pytest.raises(SystemExit) as stopped:
        train(make_cfg([*IMU_RUN, *STOP_AT_STEP_4], run="interrupted"))
    assert stopped.value.code == checkpointing.PREEMPTED_EXIT_CODE
    preempted = torch.load(tmp_path / "interrupted" / "checkpoints" / "preempted.ckpt", weights_only=True)
    assert preempted["global_step"] == 4

    resumed = train(make_cfg([*IMU_RUN, "resume=true"], run="interrupted"))
    assert same_weights(tmp_path / "reference", tmp_path / "interrupted")  # bit for bit
    for key in FINAL_METRICS:
        assert resumed[key] == reference[key], key
    # What made it exact: the loader's place in the checkpoint, epoch 1 with one batch of it served.
    loader_state = preempted["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    assert (loader_state["epoch"], loader_state["batches"]) == (1, 1)


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


def test_loader_workers_do_not_change_the_weights(make_cfg, tmp_path: Path) -> None:
    """The registry key leaves loader workers out (stage1.KEY_ALLOW_LIST): they must not change a run."""
    without = train(make_cfg(IMU_RUN, run="without"))
    with_workers = train(make_cfg([*IMU_RUN, "data.num_workers=2"], run="with"))
    assert same_weights(tmp_path / "without", tmp_path / "with")
    assert [with_workers[k] for k in FINAL_METRICS] == [without[k] for k in FINAL_METRICS]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["synthetic_stage1_video", "synthetic_stage2"])
def test_sigterm_mid_epoch_resumes_exactly_in_the_other_stages(
    make_cfg, tmp_path: Path, experiment: str
) -> None:
    """Video clips with flip augmentation (stage 1), and the fusion stage over its two stage-1 encoders."""
    run = [f"+experiment={experiment}", "data.batch_size=4", "trainer.max_epochs=3", "trainer=cpu"]
    stage1 = {m: ["data.batch_size=4"] for m in ("imu", "video")}  # stage 2's encoders, trained once
    reference = train(make_cfg(run, run="reference", stage1=stage1))
    with pytest.raises(SystemExit):
        train(make_cfg([*run, *STOP_AT_STEP_4], run="interrupted", stage1=stage1))
    resumed = train(make_cfg([*run, "resume=true"], run="interrupted", stage1=stage1))
    assert same_weights(tmp_path / "reference", tmp_path / "interrupted")
    for key in FINAL_METRICS:
        assert resumed[key] == reference[key], key


def epoch_batches(loader, epoch: int, stop_after: int | None = None) -> list[list[int]]:
    """One epoch as Lightning runs it: iter() first, then set_epoch, then the batches (`stop_after` of them)."""
    batches = iter(loader)
    loader.sampler.set_epoch(epoch)
    return [[int(i) for i in b] for _, b in zip(range(stop_after or len(loader)), batches, strict=False)]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_training_loader_resumes_where_it_stopped(workers: int) -> None:
    def loader(batch_size: int = 3):
        return split_loader(list(range(11)), batch_size, True, workers, False, seed=7)

    reference = [epoch_batches(loader(), epoch) for epoch in range(3)]
    assert reference[0] != reference[1] and len(reference[0]) == 3  # shuffled per epoch; short batch dropped
    assert [epoch_batches(loader(), 1)] == [reference[1]]  # the order is the seed's and the epoch's alone

    stopped = loader()
    epoch_batches(stopped, 0)
    assert epoch_batches(stopped, 1, stop_after=1) == reference[1][:1]
    resumed = loader()  # a new process: a new loader, given the checkpointed state
    resumed.load_state_dict(stopped.state_dict())
    assert epoch_batches(resumed, 1) == reference[1][1:]  # the rest of the interrupted epoch
    assert epoch_batches(resumed, 2) == reference[2]

    # Stopped at an epoch's end (last.ckpt): the resumed run starts the next epoch from its first batch.
    finished = loader()
    epoch_batches(finished, 0)
    epoch_batches(finished, 1)
    after_epoch = loader()
    after_epoch.load_state_dict(finished.state_dict())
    assert epoch_batches(after_epoch, 2) == reference[2]

    with pytest.raises(HarlitError, match="in batches of 3, this run has 11 in batches of 4"):
        loader(batch_size=4).load_state_dict(stopped.state_dict())


def test_device_batches_resume_where_they_stopped() -> None:
    tensors = {"label": torch.arange(10), "index": torch.arange(10) * 10}

    def batches():
        return DeviceBatches(tensors, batch_size=4, shuffle=True, drop_last=True, seed=3)

    def labels(source, epoch: int, stop_after: int | None = None) -> list[list[int]]:
        it = iter(source)
        source.sampler.set_epoch(epoch)
        return [b["label"].tolist() for _, b in zip(range(stop_after or len(source)), it, strict=False)]

    reference = [labels(batches(), epoch) for epoch in range(2)]
    assert reference[0] != reference[1] and len(reference[0]) == 2
    stopped = batches()
    assert labels(stopped, 1, stop_after=1) == reference[1][:1]
    resumed = batches()
    resumed.load_state_dict(stopped.state_dict())
    assert labels(resumed, 1) == reference[1][1:]


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
    assert same_weights(tmp_path / "reference", run_dir)  # the very same weights


@pytest.mark.slow
def test_sigterm_mid_epoch_with_loader_workers_resumes_exactly(tmp_path: Path) -> None:
    """The command line of a preempted cluster job, with loader workers that get the scheduler's SIGTERM
    too: a clean stop with preempted.ckpt, then the same figures, bit for bit."""
    run = [*IMU_RUN, "data.num_workers=2"]
    reference = run_cli([*run, f"hydra.run.dir={tmp_path / 'reference'}"], tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    run_dir = tmp_path / "preempted"
    stopped = run_cli(
        [
            *run,
            f"hydra.run.dir={run_dir}",
            "+callbacks.kill._target_=harlit_testkit.KillAtStep",
            "+callbacks.kill.step=5",
            "+callbacks.kill.signal_name=SIGTERM",
            "+callbacks.kill.whole_job=true",
        ],
        tmp_path,
    )
    assert stopped.returncode == 143 and not (run_dir / "metrics.json").exists(), stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    preempted = run_dir / "checkpoints" / "preempted.ckpt"
    assert torch.load(preempted, weights_only=True)["global_step"] == 5  # saved mid-epoch, at the signal
    assert find_resume_checkpoint(run_dir) == preempted
    resumed = run_cli([*run, f"hydra.run.dir={run_dir}", "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from {preempted}" in resumed.stdout + resumed.stderr
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    got = json.loads((run_dir / "metrics.json").read_text())
    for key in FINAL_METRICS:
        assert got[key] == expected[key], key
    assert same_weights(tmp_path / "reference", run_dir)
