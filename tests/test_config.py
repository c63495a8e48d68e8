"""Every experiment composes; the synthetic ones instantiate their data and model."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from harlit.config import CONFIG_DIR, instantiate
from harlit.contract import STAGE2_ENCODER_KEYS
from harlit.models.classifier import MODALITIES_OF
from harlit.stage1 import stage1_config

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def test_the_paper_experiments_exist() -> None:
    for dataset in ("synthetic", "utd", "mmact"):
        for stage in ("stage1_imu", "stage1_video", "stage2"):
            assert f"{dataset}_{stage}" in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes(make_cfg, experiment: str) -> None:
    cfg = make_cfg([f"+experiment={experiment}"], tiny=False)
    OmegaConf.resolve(cfg)  # every interpolation resolves
    assert cfg.name == experiment
    assert cfg.model.modality in MODALITIES_OF
    assert 0 < cfg.data.train_ratio <= 1


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e.startswith("synthetic_")])
def test_synthetic_experiment_instantiates(make_cfg, experiment: str) -> None:
    cfg = make_cfg([f"+experiment={experiment}"])
    modalities = MODALITIES_OF[cfg.model.modality]
    dm = instantiate(cfg.data, modalities=list(modalities))
    model = instantiate(cfg.model, num_classes=dm.num_classes, imu_ckpt=None, video_ckpt=None)
    assert set(model.encoders) == set(modalities)


def test_bare_run_is_the_synthetic_fusion_stage(make_cfg) -> None:
    cfg = make_cfg([], tiny=False)
    assert cfg.model.modality == "fusion" and cfg.data._target_.endswith("SyntheticDataModule")
    assert (
        cfg.model.video.trainable_blocks == "stage2"
    )  # S3D: Mixed_4c, Mixed_5c (tests/test_video_encoders.py)


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if "_stage2" in e])
def test_stage2_experiments_leave_their_encoders_to_the_stage1_files(make_cfg, experiment: str) -> None:
    """A stage-2 experiment sets no encoder or preprocessing setting: its encoder files decide them."""
    written = OmegaConf.load(CONFIG_DIR / "experiment" / f"{experiment}.yaml")
    for modality in ("imu", "video"):
        own = set((written.get("model") or {}).get(modality) or {})
        assert own <= set(STAGE2_ENCODER_KEYS[modality]), f"{experiment} sets model.{modality}.{own}"
        for key in ("imu_length", "imu_channels", "num_frames", "frame_size", "video_resize"):
            assert key not in (written.get("data") or {}), f"{experiment} sets data.{key}"
    stage2 = make_cfg([f"+experiment={experiment}"], tiny=False)
    for modality in ("imu", "video"):
        assert stage1_config(stage2, modality).model.modality == modality


def test_optimizer_and_scheduler_are_config_groups(make_cfg) -> None:
    import torch

    from harlit.build import build_model

    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "model/optimizer=sgd", "model/scheduler=cosine"])
    chosen = build_model(cfg, 12).configure_optimizers()
    optimizer, scheduler = chosen["optimizer"], chosen["lr_scheduler"]["scheduler"]
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["lr"] == 3e-3  # the experiment's lr
    assert isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR) and scheduler.T_max == 1
    default = build_model(make_cfg(["+experiment=synthetic_stage1_imu"]), 12).configure_optimizers()
    assert isinstance(default, torch.optim.AdamW)  # AdamW and no scheduler, as in the paper
    for name in ("imu", "video", "fusion"):  # the block lives in model/optimizer/ alone
        written = OmegaConf.load(CONFIG_DIR / "model" / f"{name}.yaml")
        assert "_target_" not in (written.get("optimizer") or {}) and "scheduler" not in written


def test_trainer_sets_trainer_keys_and_hardware_spans_the_groups(make_cfg) -> None:
    from harlit.build import build_model
    from harlit.trained import portable_model_config

    for path in (CONFIG_DIR / "trainer").glob("*.yaml"):
        assert "@package _global_" not in path.read_text(), f"{path.name} reaches outside trainer"
    trainer_only = make_cfg(["trainer=gpu"])
    assert trainer_only.trainer.accelerator == "gpu" and trainer_only.data.num_workers == 0
    assert trainer_only.callbacks.get("device_resident") is None
    imu = make_cfg(["+experiment=synthetic_stage1_imu", "hardware=gpu"])
    assert imu.trainer.precision == "bf16-mixed" and imu.data.num_workers == 8
    assert imu.callbacks.device_resident is not None
    assert "video" not in imu.model and "video" not in portable_model_config(imu)  # IMU-only: no video keys
    video = make_cfg(["+experiment=synthetic_stage1_video", "hardware=gpu", "trainer=cpu"])
    assert build_model(video, 12).encoders["video"].channels_last
    assert (
        not build_model(make_cfg(["+experiment=synthetic_stage1_video"]), 12).encoders["video"].channels_last
    )
    ddp = make_cfg(["hardware=ddp"])
    assert (
        ddp.trainer.strategy.process_group_backend == "nccl" and ddp.callbacks.get("device_resident") is None
    )
