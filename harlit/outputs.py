"""What a finished run leaves in its directory: metrics.json, confusion_matrix.json, model.pt (the
self-contained model file, `harlit.trained`), the stage-1 encoder file (also published to the
registry), and the W&B summary. Written by rank 0 alone."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger

from harlit import stage1
from harlit.build import run_dir
from harlit.data.base import HARDataModule
from harlit.encoder_file import ENCODER_FILE, EncoderFile
from harlit.io import atomic_write_json, atomic_write_text
from harlit.loggers import log_test_details
from harlit.models.classifier import HARClassifier
from harlit.trained import MODEL_FILE, save_model_file

log = logging.getLogger(__name__)


def summarize_test(
    model: HARClassifier, datamodule: HARDataModule, logged: dict[str, float]
) -> dict[str, Any]:
    """The test metrics Lightning logged, plus per-class F1 and, under zero-shot, hidden/seen Top-1."""
    metrics: dict[str, Any] = {k: float(v) for k, v in logged.items()}
    names = datamodule.class_names
    f1 = model.test_details.get("f1_per_class")
    if f1 is not None:
        metrics.update({f"test/f1/{name}": float(v) for name, v in zip(names, f1.tolist(), strict=True)})
    confusion = model.test_details.get("confusion_matrix")
    if confusion is not None and datamodule.hidden_classes:
        hidden = torch.zeros(len(names), dtype=torch.bool)
        hidden[datamodule.hidden_classes] = True
        correct, support = confusion.diag().float(), confusion.sum(dim=1).float()
        for label, rows in (("hidden", hidden), ("seen", ~hidden)):
            total = support[rows].sum()
            metrics[f"test/top1_{label}"] = float(correct[rows].sum() / total) if total > 0 else float("nan")
    return metrics


def selection_value(
    cfg: DictConfig, validation: dict[str, float], checkpoint: ModelCheckpoint | None
) -> dict[str, Any]:
    """The validation value a sweeper optimises (`optimized_metric`), or None without validation data.

    When the checkpoint callback monitors that metric, the tested epoch is its best one, so that is the
    value; otherwise the last epoch's.
    """
    name = cfg.get("optimized_metric")
    value = validation.get(name) if name else None
    if (
        name
        and checkpoint is not None
        and checkpoint.monitor == name
        and checkpoint.best_model_score is not None
    ):
        value = float(checkpoint.best_model_score)
    return {"optimized_metric": name, "optimized_value": value}


def encoder_file_of(model: HARClassifier, cfg: DictConfig, key: dict[str, Any]) -> EncoderFile:
    """A stage-1 run's encoder with its resolved config, preprocessing record and registry key."""
    modality = model.modality
    return EncoderFile(
        modality=modality,
        state_dict={k: v.detach().cpu() for k, v in model.encoders[modality].state_dict().items()},
        config=stage1.plain_job_config(cfg),
        preprocessing=model.preprocessing,
        key=key,
    )


def write_outputs(
    cfg: DictConfig,
    model: HARClassifier,
    datamodule: HARDataModule,
    loggers: Iterable[Logger],
    metrics: dict[str, Any],
) -> None:
    """Rank 0's files; a stage-1 run also publishes its encoder to the registry (never overwriting)."""
    out_dir = run_dir(cfg)
    confusion = model.test_details.get("confusion_matrix")
    if confusion is not None:
        atomic_write_text(
            out_dir / "confusion_matrix.json",
            json.dumps({"classes": datamodule.class_names, "matrix": confusion.tolist()}),
        )
    if model.modality != "fusion":
        publish_encoder(cfg, model, out_dir / ENCODER_FILE, metrics)
    save_model_file(out_dir / MODEL_FILE, model, cfg)
    metrics["model_file"] = str(out_dir / MODEL_FILE)
    atomic_write_json(out_dir / "metrics.json", metrics)
    log_test_details(loggers, metrics, confusion, datamodule.class_names)


def publish_encoder(cfg: DictConfig, model: HARClassifier, path: Path, metrics: dict[str, Any]) -> None:
    modality = model.modality
    key = stage1.key_of(cfg, modality)
    encoder_file_of(model, cfg, key).save(path)
    published = stage1.publish(cfg, key, path, metrics)
    metrics[f"{modality}_encoder"] = str(published.path)
    metrics["registered"] = published.registered
    if published.note:
        metrics["registry_note"] = published.note
