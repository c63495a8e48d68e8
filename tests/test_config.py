"""Every experiment composes; the synthetic ones instantiate their data and model."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from harlit import CONFIG_DIR
from harlit.config import instantiate
from harlit.models.classifier import MODALITIES_OF

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
    assert list(cfg.model.video.trainable_blocks) == ["Mixed_4c", "Mixed_5c"]
