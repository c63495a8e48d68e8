"""DDP: harlit's own rank launcher (also inside a multirun), unpadded evaluation, rank-0-only writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from harlit import dist, launch
from harlit.build import build_trainer
from harlit.config import instantiate
from harlit.errors import HarlitError
from harlit.train import summarize_test
from tests.conftest import REPO_ROOT, TINY, run_harlit, tiny_stage2

HELPERS = REPO_ROOT / "tests" / "helpers"
IMU_DDP = [
    "+experiment=synthetic_stage1_imu",
    *TINY,
    "data.batch_size=4",
    "trainer.max_epochs=2",
    "trainer=ddp_cpu",
    "trainer.deterministic=true",
]
ODD_DATA = "data._target_=harlit_testkit.OddTestSynthetic"


def run_cli(
    args: list[str], root: Path, extra_env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    return run_harlit(args, root, extra_env, timeout, helpers=True)


# --- fast: the launcher's decisions -----------------------------------------------------------------
def test_devices_per_node_reads_lightning_forms() -> None:
    assert dist.devices_per_node({"devices": 2, "accelerator": "cpu"}) == 2
    assert dist.devices_per_node({"devices": "3", "accelerator": "gpu"}) == 3
    assert dist.devices_per_node({"devices": [0, 2], "accelerator": "gpu"}) == 2
    assert dist.devices_per_node({"devices": "0,1,", "accelerator": "gpu"}) == 2
    assert dist.devices_per_node({"devices": "auto", "accelerator": "cpu"}) == 1


def test_a_job_launches_its_ranks_unless_they_exist(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOCAL_RANK", "SLURM_NTASKS", "SLURM_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert not dist.needs_launch(make_cfg(["trainer=cpu"]))
    two = make_cfg(["trainer=ddp_cpu"])
    assert dist.needs_launch(two)
    monkeypatch.setenv("SLURM_NTASKS", "2")  # one SLURM task per rank: SLURM created them
    assert not dist.needs_launch(two) and dist.is_external_multi_rank(two)
    monkeypatch.setenv("SLURM_NTASKS", "3")
    with pytest.raises(HarlitError, match="tasks_per_node"):
        dist.needs_launch(two)
    monkeypatch.setenv("SLURM_NTASKS", "1")  # one task for the job: the job starts its ranks
    assert dist.needs_launch(two)
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not dist.needs_launch(two)


def test_more_devices_than_gpus_is_one_sentence(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(HarlitError) as err:
        dist.check_devices(make_cfg(["trainer=ddp", "trainer.devices=4"]))
    message = str(err.value)
    assert "trainer.devices=4" in message and "only 2" in message and "\n" not in message
    dist.check_devices(make_cfg(["trainer=ddp", "trainer.devices=2"]))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(HarlitError, match="no GPU is visible"):
        dist.check_devices(make_cfg(["trainer=gpu"]))


def test_an_explicit_find_unused_parameters_stands(make_cfg) -> None:
    # harlit never needs the search (tests/test_modality_dropout.py); a user may still ask for it.
    cfg = make_cfg(["trainer=ddp_cpu", "trainer.strategy.find_unused_parameters=true"])
    assert build_trainer(cfg, logger=False).strategy._ddp_kwargs["find_unused_parameters"] is True


def test_worker_config_carries_the_supervisors_answers(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(["trainer=ddp_cpu"])
    worker = launch.worker_config(
        cfg, {"imu": tmp_path / "imu.pt", "video": tmp_path / "video.pt"}, "last.ckpt"
    )
    assert "hydra" not in worker and worker.resume is False and worker.ckpt_path == "last.ckpt"
    assert worker.model.imu_ckpt == str(tmp_path / "imu.pt") and worker.model.video_ckpt == str(
        tmp_path / "video.pt"
    )
    assert not OmegaConf.to_yaml(worker).count("${")  # fully resolved: ranks need no Hydra


# --- slow: real 2-process CPU DDP ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One 2-process CPU DDP IMU run on an odd test set, with every file replacement logged per rank."""
    root = tmp_path_factory.mktemp("ddp")
    probe = root / "writes.tsv"
    run_dir = root / "run"
    env = {
        "PYTHONPATH": os.pathsep.join([str(HELPERS), str(HELPERS / "write_probe")]),
        "HARLIT_WRITE_PROBE": str(probe),
    }
    result = run_cli([*IMU_DDP, ODD_DATA, f"hydra.run.dir={run_dir}"], root, env)
    assert result.returncode == 0, result.stderr[-4000:]
    writes = [line.split("\t") for line in probe.read_text().splitlines()] if probe.exists() else []
    return {"root": root, "run_dir": run_dir, "output": result.stdout + result.stderr, "writes": writes}


def test_a_rank_destroys_its_process_group_after_a_successful_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left alive, Gloo's group can abort the rank at exit (code -6) after its results are written."""
    import torch.distributed as torch_dist

    from harlit import worker

    def fit_and_test_in_a_group(cfg) -> dict:
        store = torch_dist.FileStore(str(tmp_path / "store"), 1)
        torch_dist.init_process_group("gloo", store=store, rank=0, world_size=1)
        torch_dist.all_reduce(torch.ones(1))
        return {}

    monkeypatch.setattr(worker, "fit_and_test", fit_and_test_in_a_group)
    config = tmp_path / "ddp_config.yaml"
    config.write_text("seed: 0\n")
    worker.main([str(config)])
    assert not torch_dist.is_initialized()
    dist.leave_process_group()  # nothing to leave: a no-op, as in every single-process run


@pytest.mark.slow
def test_two_process_cpu_ddp_run(ddp_run: dict) -> None:
    run_dir: Path = ddp_run["run_dir"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_test"] == 11
    assert ddp_run["output"].count("Launching 2 DDP ranks") == 1
    assert "MEMBER: 2/2" in ddp_run["output"]
    confusion = json.loads((run_dir / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, confusion)) == 11  # each test sample scored once: no padded duplicates
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    # One run directory and nothing else: the ranks start no Hydra and make no folders.
    assert sorted(p.name for p in ddp_run["root"].iterdir() if p.is_dir()) == ["checkpoints", "run"]


@pytest.mark.slow
def test_only_rank_zero_writes(ddp_run: dict) -> None:
    writes = ddp_run["writes"]
    by_rank: dict[str, set[str]] = {}
    for rank, path in writes:
        by_rank.setdefault(rank, set()).add(Path(path).name)
    assert "1" not in by_rank, f"rank 1 wrote {by_rank.get('1')}"
    assert {"metrics.json", "config.yaml", "encoder.pt", "key.json", "last.ckpt"} <= by_rank["0"]
    assert by_rank.get("-", set()) <= {"ddp_config.yaml"}  # the supervisor writes only the ranks' config
    assert sum(Path(p).name == "metrics.json" and "/run/" in p for _, p in writes) == 1


@pytest.mark.slow
def test_ddp_test_metrics_equal_single_process_on_the_same_checkpoint(ddp_run: dict, make_cfg) -> None:
    sys.path.insert(0, str(HELPERS))
    try:
        cfg = make_cfg([*IMU_DDP, ODD_DATA, "trainer=cpu"])
        datamodule = instantiate(cfg.data, modalities=["imu"], _convert_="all")
        model = instantiate(
            cfg.model,
            num_classes=datamodule.num_classes,
            class_names=datamodule.class_names,
            imu_ckpt=None,
            video_ckpt=None,
        )
    finally:
        sys.path.remove(str(HELPERS))
    state = torch.load(
        ddp_run["run_dir"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False
    )
    model.load_state_dict(state["state_dict"])
    datamodule.setup("fit")  # every split, so the test split is normalised with the training statistics
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    logged = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    single = summarize_test(model, datamodule, logged)
    distributed = json.loads((ddp_run["run_dir"] / "metrics.json").read_text())
    scored = [k for k in single if k.startswith("test/")]
    assert len(scored) >= 16  # loss, top1, top5, f1_macro and one F1 per class
    for key in scored:
        assert distributed[key] == pytest.approx(single[key], abs=1e-7), key


@pytest.mark.slow
def test_multirun_of_ddp_jobs_gives_each_job_its_ranks_and_one_dir(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        ["-m", *IMU_DDP, "trainer.max_epochs=1", "seed=0,1", f"hydra.sweep.dir={sweep}"], tmp_path
    )
    assert result.returncode == 0, result.stderr[-4000:]
    output = result.stdout + result.stderr
    assert output.count("Launching 2 DDP ranks") == 2  # one launch per job: no job ran twice
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    seeds = {json.loads((sweep / job / "metrics.json").read_text())["seed"] for job in jobs}
    assert seeds == {0, 1}
    # No stray run folders anywhere (Lightning's re-launch would make logs/<name>/runs/... per rank).
    assert not (tmp_path / "logs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "sweep"]


@pytest.mark.slow
def test_the_attention_head_trains_under_cpu_ddp(tmp_path: Path) -> None:
    """Stage 2 with the attention head and IMU hidden from some classes, on 2 CPU ranks (gloo)."""
    run_dir = tmp_path / "run"
    result = run_cli(
        [
            "+experiment=synthetic_stage2",
            *tiny_stage2(),
            "model/head=attention",
            "data.num_hidden=3",
            "data.hidden_from=imu",
            "data.batch_size=4",
            "trainer=ddp_cpu",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    output = result.stdout + result.stderr
    assert output.count("Launching 2 DDP ranks") == 3  # the two stage-1 encoders, then stage 2
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["head"] == "attention" and metrics["modality"] == "fusion"
    assert 0.0 <= metrics["test/top1"] <= 1.0 and metrics["hidden_from"] == "imu"
