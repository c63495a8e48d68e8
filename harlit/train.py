"""`train(cfg)`: one harlit run (stage 1 or stage 2) from a composed config, returning its metrics."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from harlit import ddp
from harlit.checkpointing import exit_when_preempted, resume_checkpoint
from harlit.config import compose_config, instantiate, task_overrides, to_plain
from harlit.data.base import HARDataModule
from harlit.errors import HarlitError
from harlit.loggers import finish_runs, log_config, log_test_details
from harlit.models.classifier import MODALITIES_OF, HARClassifier
from harlit.registry import CheckpointRegistry, atomic_write_text, stage1_key

log = logging.getLogger(__name__)
# Lightning notices that are expected here: no validation split by default, tiny epochs, and a
# torch-internal deprecation inside Lightning itself.
for _notice in (
    r"Total length of `list` across ranks is zero",
    r"The number of training batches .* is smaller than the logging",
    r".*LeafSpec.* is deprecated",
):
    warnings.filterwarnings("ignore", message=_notice)


def _not_an_advert(record: logging.LogRecord) -> bool:
    return "litlogger" not in str(record.msg)


# Lightning advertises its hosted logger on every Trainer; it is noise in every run's log.
for _name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_not_an_advert)

# Overrides that stay with the stage-2 run when it composes its stage-1 dependencies.
STAGE2_ONLY_PREFIXES = (
    "model.",
    "name",
    "experiment",
    "stage1",
    "data.batch_size",
    "paths.output_dir",
    "hydra.",
    "resume",
    "ckpt_path",
    "callbacks.",
    "logger",
)
# What a stage-1 registry key leaves out of the training recipe: encoders (keyed on their own) and
# settings that do not change the trained weights. The recipe adds the trainer keys below and the
# training batch size.
MODEL_KEYS_OUTSIDE_RECIPE = {"imu", "video", "imu_ckpt", "video_ckpt", "class_names"}
TRAINER_RECIPE_KEYS = ("max_epochs", "max_steps", "gradient_clip_val", "accumulate_grad_batches")
ENCODER_PREFIXES = ("model.imu.", "model.video.", "+model.imu.", "+model.video.")


def stage_of(modality: str) -> int:
    return 2 if modality == "fusion" else 1


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir).expanduser().resolve()


def build_datamodule(cfg: DictConfig, modalities: tuple[str, ...]) -> HARDataModule:
    return instantiate(cfg.data, modalities=list(modalities), _convert_="all")


def stage1_config(cfg: DictConfig, modality: str) -> DictConfig:
    """The config of the stage-1 run this stage-2 run depends on, for one modality.

    It is the stage-1 experiment named in `stage1.<modality>` plus the overrides of this run that concern
    shared things (data, seed, paths, trainer, encoder config); optimiser and batch settings stay stage 1's.
    """
    experiment = cfg.stage1.get(modality)
    if not experiment:
        raise HarlitError(
            f"stage1.{modality} names no stage-1 experiment; set it or give model.{modality}_ckpt."
        )
    carried = [
        o
        for o in task_overrides(cfg)
        if o.startswith(ENCODER_PREFIXES) or not o.lstrip("~+").startswith(STAGE2_ONLY_PREFIXES)
    ]
    carried = [o for o in carried if "trainable_blocks" not in o]
    # The other modality's encoder does not exist in this stage-1 config (e.g. model.video.* for imu).
    carried = [
        o
        for o in carried
        if not o.lstrip("~+").startswith(tuple(f"model.{m}." for m in ("imu", "video") if m != modality))
    ]
    out_dir = run_dir(cfg) / f"stage1_{modality}"
    overrides = [
        f"+experiment={experiment}",
        *carried,
        *list(cfg.get("stage1_overrides") or []),
        f"paths.output_dir={out_dir}",
    ]
    try:
        sub = compose_config(overrides)
    except Exception as err:
        raise HarlitError(
            f"could not compose the stage-1 experiment {experiment!r} ({err}); check stage1.{modality}."
        ) from None
    with open_dict(sub):
        # Classes hidden from the other modality do not concern this encoder: it sees them all.
        if cfg.data.get("hidden_from", "both") not in (modality, "both"):
            sub.data.hidden_classes = []
            sub.data.num_hidden = 0
    return sub


def registry_key(cfg: DictConfig, modality: str, datamodule: HARDataModule) -> dict[str, Any]:
    hidden = [datamodule.class_names[i] for i in datamodule.hidden_for(modality)]
    model = to_plain(cfg.model)
    recipe = {k: v for k, v in model.items() if k not in MODEL_KEYS_OUTSIDE_RECIPE}
    recipe.update({k: cfg.trainer.get(k) for k in TRAINER_RECIPE_KEYS})
    recipe["batch_size"] = cfg.data.batch_size
    return stage1_key(
        to_plain(cfg.data), datamodule.name, modality, model[modality], cfg.seed, hidden, recipe
    )


def ensure_stage1(cfg: DictConfig, modality: str) -> Path:
    """Path of the stage-1 encoder for `modality`: explicit, registered, or trained now."""
    explicit = cfg.model.get(f"{modality}_ckpt")
    if explicit:
        return Path(explicit).expanduser()
    sub = stage1_config(cfg, modality)
    key = registry_key(sub, modality, build_datamodule(sub, (modality,)))
    registry = CheckpointRegistry(cfg.paths.registry_dir)
    if ddp.is_external_multi_rank(cfg):
        return ensure_stage1_on_external_ranks(sub, key, registry, modality)
    with registry.lock(key):
        found = registry.lookup(key)
        if found is not None:
            log.info("Reusing the stage-1 %s encoder %s", modality, found)
            return found
        log.info(
            "No stage-1 %s encoder for this setting yet: training it first (%s, in %s)",
            modality,
            cfg.stage1[modality],
            sub.paths.output_dir,
        )
        train(sub, _holding_registry_lock=True)
        found = registry.lookup(key)
    if found is None:
        raise HarlitError(
            f"stage 1 for {modality} finished without registering an encoder in {registry.root}."
        )
    return found


def ensure_stage1_on_external_ranks(
    sub: DictConfig, key: dict[str, Any], registry: CheckpointRegistry, modality: str
) -> Path:
    """SLURM tasks (or torchrun ranks) are all ranks of one run: they train a missing encoder together.

    No rank may hold the registry lock while the others train, so every rank looks up, all train when it
    is missing, rank 0 registers (under the lock) and the others wait for its file.
    """
    found = registry.lookup(key)
    if found is not None:
        return found
    train(sub)
    return ddp.wait_for_file(registry.folder(key) / "encoder.pt", what=f"rank 0's stage-1 {modality} run")


def validate(cfg: DictConfig) -> None:
    if cfg.model.modality not in MODALITIES_OF:
        raise HarlitError(
            f"model.modality must be one of {sorted(MODALITIES_OF)}, not {cfg.model.modality!r}."
        )
    ratio = cfg.data.get("train_ratio", 1.0)
    if not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise HarlitError(
            f"data.train_ratio must be in (0, 1], got {ratio}; use e.g. 0.25, 0.5, 0.75 or 1.0."
        )
    ddp.check_devices(cfg)


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c and "_target_" in c]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)


def summarize_test(
    model: HARClassifier, datamodule: HARDataModule, logged: dict[str, float]
) -> dict[str, Any]:
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


def train(cfg: DictConfig, _holding_registry_lock: bool = False) -> dict[str, Any]:
    """Train and test one run; write metrics.json, config.yaml and (stage 1) register the encoder."""
    validate(cfg)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    modality = cfg.model.modality
    out_dir = run_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)

    ckpts: dict[str, Path] = {}
    if modality == "fusion":
        ckpts = {m: ensure_stage1(cfg, m) for m in ("imu", "video")}
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    ckpt_path = resume_checkpoint(cfg, out_dir)
    if ddp.needs_launch(cfg):
        # This process only supervises: the ranks train from the resolved config (see harlit/ddp.py).
        return ddp.launch(ddp.worker_config(cfg, ckpts, ckpt_path), out_dir, _holding_registry_lock)

    datamodule = build_datamodule(cfg, MODALITIES_OF[modality])
    datamodule.setup("fit")
    model_cfg = cfg.model.copy()
    with open_dict(model_cfg):
        model_cfg.pop("imu_ckpt", None)
        model_cfg.pop("video_ckpt", None)
        if "video" in model_cfg and ckpts:
            model_cfg.video.pretrained = "none"  # the stage-1 checkpoint replaces any pretrained init
    model: HARClassifier = instantiate(
        model_cfg,
        num_classes=datamodule.num_classes,
        class_names=datamodule.class_names,
        imu_ckpt=str(ckpts["imu"]) if "imu" in ckpts else None,
        video_ckpt=str(ckpts["video"]) if "video" in ckpts else None,
    )
    trainer = build_trainer(cfg)
    job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    if ddp.global_rank() == 0:
        atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(job_cfg, resolve=True))
    log_config(trainer.loggers, to_plain(job_cfg))

    with exit_when_preempted():
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    use_best = bool(best) and datamodule.val_set is not None and trainer.checkpoint_callback.monitor
    logged = trainer.test(
        model, datamodule=datamodule, ckpt_path="best" if use_best else None, verbose=False
    )[0]

    metrics = summarize_test(model, datamodule, logged)
    metrics.update(
        {
            "name": cfg.get("name"),
            "stage": stage_of(modality),
            "modality": modality,
            "seed": int(cfg.seed),
            **datamodule.describe(),
            "run_dir": str(out_dir),
        }
    )
    metrics.update({f"{m}_ckpt": str(p) for m, p in ckpts.items()})
    if trainer.is_global_zero:
        confusion = model.test_details.get("confusion_matrix")
        if confusion is not None:
            atomic_write_text(
                out_dir / "confusion_matrix.json",
                json.dumps({"classes": datamodule.class_names, "matrix": confusion.tolist()}),
            )
        if modality != "fusion":
            key = registry_key(cfg, modality, datamodule)
            registry = CheckpointRegistry(cfg.paths.registry_dir)
            if _holding_registry_lock:
                path = registry.register(key, model.encoders[modality], metrics, str(out_dir))
            else:
                with registry.lock(key):
                    path = registry.register(key, model.encoders[modality], metrics, str(out_dir))
            metrics[f"{modality}_encoder"] = str(path)
        atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
        log_test_details(
            trainer.loggers, metrics, model.test_details.get("confusion_matrix"), datamodule.class_names
        )
    finish_runs(trainer.loggers)  # one W&B run per job: the next multirun job must not reuse this one
    log.info(
        "Test: top1=%.4f top5=%.4f f1_macro=%.4f -> %s",
        metrics.get("test/top1", float("nan")),
        metrics.get("test/top5", float("nan")),
        metrics.get("test/f1_macro", float("nan")),
        out_dir / "metrics.json",
    )
    return metrics
