"""`train(cfg)`: one harlit run (stage 1 or stage 2) from a composed config, returning its metrics.

It reads as its steps: validate (a stage-2 run with every stage-1 config it needs) -> resolve the stage-1
encoders and adopt what their files say (stage 2) -> launch ranks, or build, fit and test in this process
-> write the run's outputs. Each step lives in the module that owns it: `harlit.stage1`,
`harlit.contract`, `harlit.launch`, `harlit.build`, `harlit.outputs`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from harlit import contract, dist, launch, stage1
from harlit.build import build_datamodule, build_model, build_trainer, run_dir
from harlit.checkpointing import exit_when_preempted, resume_checkpoint
from harlit.config import to_plain
from harlit.data import preprocess
from harlit.encoder_file import EncoderFile
from harlit.errors import HarlitError
from harlit.io import atomic_write_text
from harlit.loggers import finish_runs, log_config
from harlit.models.classifier import check_settings as check_model_settings
from harlit.models.video_encoder import check_clip_settings
from harlit.outputs import (
    check_monitor,
    logged_metrics,
    monitor_of,
    selection_value,
    summarize_test,
    tested_checkpoint,
    tested_epoch,
    write_outputs,
)
from harlit.safe_load import load_weights_only

log = logging.getLogger(__name__)

__all__ = ["train", "fit_and_test", "summarize_test", "validate"]


def validate(cfg: DictConfig) -> dict[str, stage1.Dependency]:
    """Fail in one sentence on settings that cannot run, before anything is trained.

    A stage-2 config is checked whole: every stage-1 config it will need is composed, keyed and
    validated too, and no override of its command line may contradict an encoder it will load.
    Returns those stage-1 dependencies ({} for a stage-1 run).
    """
    model = cfg.model
    check_model_settings(
        model.modality, float(model.get("label_smoothing", 0.0)), float(model.get("modality_dropout", 0.0))
    )
    ratio = cfg.data.get("train_ratio", 1.0)
    if not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise HarlitError(
            f"data.train_ratio must be in (0, 1], got {ratio}; use e.g. 0.25, 0.5, 0.75 or 1.0."
        )
    metric = cfg.get("optimized_metric")
    if metric and not str(metric).startswith("val/"):
        raise HarlitError(
            f"optimized_metric={metric} is not a validation metric; a sweeper must select on validation "
            "subjects (e.g. optimized_metric=val/top1 with data.val_subjects), never on the test split."
        )
    scheduler = model.get("scheduler") or {}
    if str(scheduler.get("_target_", "")).endswith("ReduceLROnPlateau") and not cfg.data.get("val_subjects"):
        raise HarlitError(
            "model/scheduler=plateau steps on val/top1, and this run has no validation data; set "
            "data.val_subjects to training subjects to hold out, or choose another scheduler."
        )
    # Said before anything trains; fit_and_test checks again on the data as set up.
    check_monitor(monitor_of(cfg), bool(cfg.data.get("val_subjects")))
    dist.check_devices(cfg)
    build_datamodule(cfg)  # the data settings (hidden classes, protocol, ...) are checked on construction
    if model.modality == "video":  # a stage-2 run's clips are its stage-1 runs', checked below
        check_clip_settings(model.video, int(cfg.data.num_frames), int(cfg.data.frame_size))
    if model.modality != "fusion":
        return {}
    needs = stage1.dependencies(cfg)
    for modality, need in needs.items():
        if need.explicit is not None:
            encoder = EncoderFile.load(need.explicit, modality)
            contract.check_overrides(
                cfg, modality, encoder.encoder_config, encoder.data_config, encoder.source
            )
            continue
        assert need.config is not None
        validate(need.config)
        contract.check_overrides(
            cfg,
            modality,
            to_plain(need.config.model[modality]),
            to_plain(need.config.data),
            f"the stage-1 {modality} encoder of {cfg.stage1[modality]}",
        )
    return needs


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train and test one run; write metrics.json and config.yaml, and register a stage-1 encoder."""
    needs = validate(cfg)
    encoders: dict[str, Path] = {}
    if needs:
        encoders = stage1.ensure_encoders(cfg, needs, train)
        # From here on, each encoder's file decides how it is built and fed (harlit.contract).
        cfg = contract.adopt(cfg, {m: EncoderFile.load(path, m) for m, path in encoders.items()})
    ckpt_path = resume_checkpoint(cfg, run_dir(cfg))
    if ckpt_path:  # refused here in one sentence, not deep inside Lightning's loading
        load_weights_only(ckpt_path, "the checkpoint to resume from", fix="give a checkpoint of a harlit run")
    if dist.needs_launch(cfg):
        # This process only supervises: the ranks train from the resolved config (see harlit/launch.py).
        return launch.launch(launch.worker_config(cfg, encoders, ckpt_path), run_dir(cfg))
    return fit_and_test(cfg, encoders, ckpt_path)


def explicit_encoders(cfg: DictConfig) -> dict[str, Path]:
    """The stage-1 encoder files a (resolved) config names in model.<modality>_ckpt."""
    return {m: Path(cfg.model[f"{m}_ckpt"]) for m in ("imu", "video") if cfg.model.get(f"{m}_ckpt")}


def fit_and_test(
    cfg: DictConfig, encoder_files: Mapping[str, Path] | None = None, ckpt_path: str | None = None
) -> dict[str, Any]:
    """Build, fit and test in this process (one rank of a DDP run, or the whole run); write outputs."""
    files = dict(encoder_files) if encoder_files is not None else explicit_encoders(cfg)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    out_dir = run_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    encoders = {m: EncoderFile.load(path, m) for m, path in files.items()}  # read once, used twice
    for encoder in encoders.values():
        # Stage 2 feeds each encoder as its stage-1 run did, with its IMU statistics.
        preprocess.use_encoder_preprocessing(datamodule, encoder.preprocessing, encoder.source)
    model = build_model(cfg, datamodule.num_classes, datamodule.class_names, encoders)
    model.preprocessing = preprocess.record_of(datamodule)
    check_monitor(monitor_of(cfg), datamodule.val_set is not None, logged_metrics(model))
    trainer = build_trainer(cfg)
    job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    if dist.global_rank() == 0:
        atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(job_cfg, resolve=True))
    log_config(trainer.loggers, to_plain(job_cfg))

    with exit_when_preempted():
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    last = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    best = tested_checkpoint(trainer)  # None: the last epoch is tested
    logged = trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
    if not logged:
        raise HarlitError(
            f"the {datamodule.name} test split of this run is empty; check the protocol's test keys in "
            f"conf/data/{datamodule.name}.yaml."
        )
    metrics = summarize_test(model, datamodule, logged[0])
    tested, validation = tested_epoch(trainer, model, datamodule, best, last)
    metrics.update(validation)  # of the tested epoch
    metrics.update(selection_value(cfg, validation))
    metrics.update(tested)
    metrics.update(
        {
            "name": cfg.get("name"),
            "stage": 2 if cfg.model.modality == "fusion" else 1,
            "modality": cfg.model.modality,
            "head": model.head.name,
            "modality_dropout": float(model.modality_dropout),
            "seed": int(cfg.seed),
            **datamodule.describe(),
            "run_dir": str(out_dir),
        }
    )
    metrics.update({f"{m}_ckpt": str(p) for m, p in files.items()})
    if trainer.is_global_zero:
        write_outputs(cfg, model, datamodule, trainer.loggers, metrics)
    finish_runs(trainer.loggers)  # one W&B run per job: the next multirun job must not reuse this one
    log.info(
        "Test: top1=%.4f top5=%.4f f1_macro=%.4f -> %s",
        metrics.get("test/top1", float("nan")),
        metrics.get("test/top5", float("nan")),
        metrics.get("test/f1_macro", float("nan")),
        out_dir / "metrics.json",
    )
    return metrics
