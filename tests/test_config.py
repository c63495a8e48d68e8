"""Every experiment composes; the synthetic ones instantiate their data and model."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from harlit.config import CONFIG_DIR, instantiate
from harlit.models.classifier import MODALITIES_OF
from harlit.stage1 import LEFT_OUT, STAGE2_ENCODER_KEYS

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


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e.endswith("_stage2")])
def test_stage2_encoders_match_their_stage1_experiments(make_cfg, experiment: str) -> None:
    """Stage 2 builds each encoder from its own model config, then loads the stage-1 weights into it."""
    stage2 = make_cfg([f"+experiment={experiment}"], tiny=False)
    for modality in ("imu", "video"):
        stage1 = make_cfg([f"+experiment={stage2.stage1[modality]}"], tiny=False)
        ours, theirs = (
            {
                k: v
                for k, v in OmegaConf.to_container(c.model[modality]).items()
                if k not in LEFT_OUT["encoder"] and k not in STAGE2_ENCODER_KEYS
            }
            for c in (stage2, stage1)
        )
        assert ours == theirs, f"{experiment} model.{modality} differs from {stage2.stage1[modality]}"
