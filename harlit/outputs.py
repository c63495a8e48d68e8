"""What a finished run leaves in its directory: metrics.json, confusion_matrix.json, model.pt (the
self-contained model file, `harlit.trained`), the stage-1 encoder file (also published to the
registry), and the W&B summary. Written by rank 0 alone. Also which epoch a run tests and the validation
metrics of that epoch: callbacks.model_checkpoint.monitor picks it, or it is the last one."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger

from harlit import stage1
from harlit.build import run_dir
from harlit.data.base import HARDataModule
from harlit.encoder_file import ENCODER_FILE, EncoderFile
from harlit.errors import HarlitError
from harlit.io import atomic_write_json, atomic_write_text
from harlit.loggers import log_test_details
from harlit.models.classifier import VALIDATION_KEY, HARClassifier
from harlit.safe_load import load_weights_only
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


def monitor_of(cfg: DictConfig) -> str | None:
    """callbacks.model_checkpoint.monitor: the metric whose best epoch is tested (None: the last epoch)."""
    checkpoint = (cfg.get("callbacks") or {}).get("model_checkpoint") or {}
    return checkpoint.get("monitor") or None


def check_monitor(monitor: str | None, has_validation: bool, logged: Iterable[str] | None = None) -> None:
    """One sentence, before fitting, where the monitor cannot select an epoch: it is a validation metric
    and the run has no validation data, or (given what the model logs) no metric this run logs."""
    if not monitor:
        return
    if monitor.startswith("val/") and not has_validation:
        raise HarlitError(
            f"callbacks.model_checkpoint.monitor={monitor} selects the tested epoch on validation data, and "
            "this run has none; hold out training subjects with data.val_subjects=[...], or set "
            "callbacks.model_checkpoint.monitor=null to test the last epoch."
        )
    names = sorted(logged or [])
    if names and monitor not in names:
        raise HarlitError(
            f"callbacks.model_checkpoint.monitor={monitor} is not a metric this run logs; monitor one of {names}."
        )


def logged_metrics(model: HARClassifier) -> list[str]:
    """The epoch metrics a model logs in fitting, which a checkpoint monitor may name."""
    return [*model.train_metrics.keys(), "train/loss", *model.val_metrics.keys(), "val/loss", "epoch", "step"]


def tested_checkpoint(trainer: pl.Trainer) -> str | None:
    """The checkpoint `trainer.test` should load: the monitor's best epoch, or None for the last epoch."""
    checkpoint = trainer.checkpoint_callback
    if not isinstance(checkpoint, ModelCheckpoint) or not checkpoint.monitor:
        return None
    return checkpoint.best_model_path or None


def tested_epoch(
    trainer: pl.Trainer,
    model: HARClassifier,
    datamodule: HARDataModule,
    best: str | None,
    last: dict[str, float],
) -> tuple[dict[str, Any], dict[str, float]]:
    """Which epoch was tested (counted from 0, as Lightning and the checkpoint names count) and how it was
    chosen, and the validation metrics of that epoch.

    The last epoch: `last`, its validation metrics logged in fitting. The monitor's best epoch: those its
    checkpoint recorded when it was saved (classifier.VALIDATION_KEY); a checkpoint without them (written
    by an older harlit) is validated again.
    """
    if best is None:
        return {"tested_epoch": trainer.current_epoch - 1, "tested_epoch_chosen_by": "last epoch"}, dict(last)
    saved = load_weights_only(best, "the best checkpoint", fix="check the run's checkpoints folder")
    chosen = {
        "tested_epoch": int(saved["epoch"]),
        "tested_epoch_chosen_by": f"best {trainer.checkpoint_callback.monitor}",
    }
    if VALIDATION_KEY in saved or datamodule.val_set is None:
        return chosen, dict(saved.get(VALIDATION_KEY) or {})
    results = trainer.validate(model, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
    return chosen, {k: float(v) for k, v in (results[0] if results else {}).items() if k.startswith("val/")}


def selection_value(cfg: DictConfig, validation: dict[str, float]) -> dict[str, Any]:
    """The validation value a sweeper optimises (`optimized_metric`) of the tested epoch, or None without
    validation data."""
    name = cfg.get("optimized_metric")
    return {"optimized_metric": name, "optimized_value": validation.get(name) if name else None}


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
