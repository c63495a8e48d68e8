"""The one builder: datamodule, model and trainer of a run, from its composed config.

Training (`harlit.train`), the rank workers, `harlit.bench` and evaluation all build through here, so a
model is made the same way wherever it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict

from harlit.config import instantiate
from harlit.data.base import HARDataModule
from harlit.encoder_file import EncoderFile
from harlit.models.classifier import MODALITIES_OF, HARClassifier


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir).expanduser().resolve()


def build_datamodule(cfg: DictConfig, modalities: Sequence[str] | None = None) -> HARDataModule:
    """The run's datamodule, for `modalities` (default: those of `cfg.model.modality`)."""
    wanted = list(modalities or MODALITIES_OF[cfg.model.modality])
    return instantiate(cfg.data, modalities=wanted, _convert_="all")


def build_model(
    cfg: DictConfig,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    encoder_files: Mapping[str, str | Path | EncoderFile] | None = None,
) -> HARClassifier:
    """The LightningModule of `cfg.model`; `encoder_files` are stage-1 encoders to load (stage 2): paths,
    or EncoderFiles the caller has read already (not read again).

    Without `encoder_files` a stage-2 model starts from randomly initialised encoders: the same compute,
    which is what the benchmark needs.
    """
    files = dict(encoder_files or {})
    model_cfg = cfg.model.copy()
    with open_dict(model_cfg):
        model_cfg.pop("imu_ckpt", None)
        model_cfg.pop("video_ckpt", None)
        if "video" in files and "video" in model_cfg:
            model_cfg.video.pretrained = "none"  # the stage-1 weights replace any pretrained init
        if "video" in model_cfg and (cfg.get("hardware") or {}).get("channels_last"):
            model_cfg.video.channels_last = True  # hardware=gpu: channels_last_3d for S3D
    read = {m: f for m, f in files.items() if isinstance(f, EncoderFile)}
    paths = {m: f for m, f in files.items() if m not in read}
    classifier = build_classifier(model_cfg, num_classes, class_names, paths)
    for modality, encoder in read.items():
        if modality in classifier.encoders:
            classifier.load_encoder(modality, encoder)
    return classifier


def build_classifier(
    model_cfg: DictConfig | Mapping[str, Any],
    num_classes: int,
    class_names: Sequence[str] | None = None,
    encoder_files: Mapping[str, str | Path] | None = None,
) -> HARClassifier:
    """A HARClassifier from a model config node (a run's `cfg.model`, or a model file's copy of it)."""
    files = dict(encoder_files or {})
    # Not recursive: the model builds its encoders, head and optimizer from these configs itself, so
    # they are part of its hyperparameters and a Lightning checkpoint rebuilds it alone.
    return instantiate(
        model_cfg,
        _recursive_=False,
        _convert_="all",
        num_classes=num_classes,
        class_names=list(class_names) if class_names else None,
        imu_ckpt=str(files["imu"]) if "imu" in files else None,
        video_ckpt=str(files["video"]) if "video" in files else None,
    )


def build_trainer(
    cfg: DictConfig,
    callbacks: Sequence[pl.Callback] | None = None,
    **overrides: object,
) -> pl.Trainer:
    """The configured Trainer with its loggers and callbacks; `overrides` replace trainer keys and
    `callbacks`, when given, replace the configured ones."""
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c and "_target_" in c]
    if callbacks is None:
        callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    trainer_cfg = cfg.trainer.copy()
    with open_dict(trainer_cfg):
        trainer_cfg.update(overrides)
    return instantiate(trainer_cfg, logger=loggers or False, callbacks=list(callbacks))
