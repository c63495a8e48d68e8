"""Weights & Biases glue: a configured WandbLogger, the run config and test details, one W&B run per job.

Nothing here imports wandb unless a W&B logger is configured, so the CSV logger works without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import get_class
from pytorch_lightning.loggers import Logger, WandbLogger

from harlit.errors import HarlitError

log = logging.getLogger(__name__)

WANDB_MODES = ("offline", "online", "disabled", "shared")


def sweep_id() -> str | None:
    """The folder name of the running Hydra multirun (its timestamp), or None outside a multirun."""
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return Path(str(hydra_cfg.sweep.dir)).name


def hidden_setting(hidden_classes: Sequence[Any] | None, num_hidden: int, hidden_from: str) -> str:
    """'none', or '<modality>:<count>' (the classes themselves go into the run config and metrics.json)."""
    count = int(num_hidden or 0) or len(hidden_classes or [])
    return f"{hidden_from}:{count}" if count else "none"


def wandb_logger(
    *,
    run_name: str,
    data_target: str,
    modality: str,
    train_ratio: float,
    seed: int,
    hidden_classes: Sequence[Any] | None = None,
    num_hidden: int = 0,
    hidden_from: str = "both",
    mode: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    **kwargs: Any,
) -> WandbLogger:
    """A WandbLogger grouped by experiment (and sweep) and tagged with dataset, stage, ratio and hidden setting.

    `mode` defaults to offline unless WANDB_MODE says otherwise, so nothing reaches the network by accident;
    `wandb sync <save_dir>/wandb/offline-run-*` uploads later.
    """
    mode = mode or os.environ.get("WANDB_MODE") or "offline"
    if mode not in WANDB_MODES:
        raise HarlitError(
            f"logger.wandb.mode must be one of {list(WANDB_MODES)}, not {mode!r}; set WANDB_MODE or the config."
        )
    import wandb

    if wandb.run is not None:
        # A run left open by an earlier job of this process (e.g. one that failed) must not absorb this one.
        log.warning("Finishing the W&B run %s left open by an earlier job.", wandb.run.id)
        wandb.finish()
    dataset = getattr(get_class(data_target), "name", data_target.rsplit(".", 1)[-1])
    stage = 2 if modality == "fusion" else 1
    sweep = sweep_id()
    all_tags = [
        f"dataset:{dataset}",
        f"stage:{stage}",
        f"modality:{modality}",
        f"ratio:{float(train_ratio):g}",
        f"hidden:{hidden_setting(hidden_classes, num_hidden, hidden_from)}",
        *([f"sweep:{sweep}"] if sweep else []),
        *tags,
    ]
    return WandbLogger(
        name=f"{run_name}-seed{seed}",
        group=group or (f"{run_name}/{sweep}" if sweep else run_name),
        job_type=f"stage{stage}-{modality}",
        tags=all_tags,
        mode=mode,
        **kwargs,
    )


def wandb_loggers(loggers: Iterable[Logger]) -> list[WandbLogger]:
    return [lg for lg in loggers if isinstance(lg, WandbLogger)]


def log_config(loggers: Iterable[Logger], config: dict[str, Any]) -> None:
    """Put the whole resolved job config into each W&B run (Lightning only logs the model's hparams)."""
    for logger in wandb_loggers(loggers):
        logger.log_hyperparams(config)


def log_test_details(
    loggers: Iterable[Logger], metrics: dict[str, Any], confusion: Any, class_names: Sequence[str]
) -> None:
    """Test confusion matrix (as W&B's confusion chart), per-class F1 and the final metrics as run summary."""
    targets = wandb_loggers(loggers)
    if not targets:
        return
    import wandb

    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    per_class_f1 = [[name, numbers.get(f"test/f1/{name}", float("nan"))] for name in class_names]
    for logger in targets:
        run = logger.experiment
        payload: dict[str, Any] = {
            "test/f1_per_class": wandb.Table(columns=["class", "f1"], data=per_class_f1),
        }
        if confusion is not None:
            matrix = confusion.tolist() if hasattr(confusion, "tolist") else confusion
            cells = [
                [class_names[i], class_names[j], matrix[i][j]]
                for i in range(len(class_names))
                for j in range(len(class_names))
            ]
            payload["test/confusion_matrix"] = wandb.plot_table(
                "wandb/confusion_matrix/v1",
                wandb.Table(columns=["Actual", "Predicted", "nPredictions"], data=cells),
                {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
                {"title": "Test confusion matrix"},
            )
        run.log(payload)
        run.summary.update(numbers)


def finish_runs(loggers: Iterable[Logger]) -> None:
    """End this job's W&B run, so the next job of a multirun (same process) starts its own."""
    if not wandb_loggers(loggers):
        return
    import wandb

    if wandb.run is not None:
        wandb.finish()
