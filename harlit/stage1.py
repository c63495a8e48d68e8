"""Stage-1 dependencies of a stage-2 run: their configs, their registry key, and ensure-or-train.

Everything that shapes a stage-1 encoder's weights goes into its registry key; `LEFT_OUT` is the one
list of what does not. A stage-2 run finds each encoder by that key, trains it first when it is missing
(once, across concurrent sweep jobs: the registry's training lock is taken here and nowhere else), and
otherwise reuses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from harlit import dist
from harlit.build import build_datamodule, run_dir
from harlit.config import compose_config, task_overrides, to_plain
from harlit.errors import HarlitError
from harlit.registry import ENCODER_FILE, CheckpointRegistry, Published

log = logging.getLogger(__name__)

ENCODER_MODALITIES = ("imu", "video")

# What a stage-1 key leaves out, by config node: settings that change how batches are loaded or how fast
# a step runs, never what the encoder learns. (The training batch size does change it: it stays in.)
LEFT_OUT: dict[str, frozenset[str]] = {
    "data": frozenset(
        {
            "_target_",  # the dataset is keyed by name
            "eval_batch_size",
            "num_workers",
            "pin_memory",
            "prefetch_factor",
            "seed",  # the run's seed is keyed once, at the top
            "hidden_classes",  # keyed as the classes hidden from this modality
            "hidden_from",
            "num_hidden",
            "on_bad_sample",
            "prepare_workers",
            "report_dir",
            "cache_dir",
        }
    ),
    "model": frozenset({"imu", "video", "imu_ckpt", "video_ckpt", "class_names"}),  # encoders: own node
    "encoder": frozenset({"channels_last"}),
}
TRAINER_RECIPE_KEYS = ("max_epochs", "max_steps", "gradient_clip_val", "accumulate_grad_batches")

# Overrides of a stage-2 command line that stay with stage 2 when it composes a stage-1 dependency.
STAGE2_ONLY_PREFIXES = (
    "model.",
    "model/",
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
    "optimized_metric",
)
# Stage-2-only settings of an encoder: which blocks stage 2 fine-tunes is not how stage 1 trained it.
STAGE2_ENCODER_KEYS = ("trainable_blocks",)


def _without(node: dict[str, Any], left_out: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in sorted(node.items()) if k not in left_out}


def registry_key(cfg: DictConfig, modality: str, dataset: str, hidden_classes: list[str]) -> dict[str, Any]:
    """The identity of the stage-1 encoder that `cfg` (a stage-1 config) trains for `modality`.

    Two runs with equal keys produce interchangeable encoders; `hidden_classes` are the class names hidden
    from this modality (the datamodule resolves `num_hidden` to names).
    """
    data = to_plain(cfg.data)
    if data.get("cache_format", "uint8") == "uint8":
        data.pop("cache_quality", None)  # JPEG quality shapes the pixels only of a JPEG cache
    model = to_plain(cfg.model)
    recipe = _without(model, LEFT_OUT["model"])
    recipe.update({k: cfg.trainer.get(k) for k in TRAINER_RECIPE_KEYS})
    return {
        "dataset": dataset,
        "modality": modality,
        "train_ratio": float(data.get("train_ratio", 1.0)),
        "hidden_classes": sorted(hidden_classes),
        "seed": int(cfg.seed),
        "data": _without(data, LEFT_OUT["data"]),
        "encoder": _without(model[modality], LEFT_OUT["encoder"]),
        "recipe": recipe,
    }


def key_of(cfg: DictConfig, modality: str) -> dict[str, Any]:
    """`registry_key` with the dataset name and hidden classes that `cfg.data` resolves to."""
    datamodule = build_datamodule(cfg, (modality,))
    hidden = [datamodule.class_names[i] for i in datamodule.hidden_for(modality)]
    return registry_key(cfg, modality, datamodule.name, hidden)


def _is_stage2_only(override: str, modality: str) -> bool:
    name = override.lstrip("~+")
    own_encoder = (f"model.{modality}.", f"model.{modality}=")
    if name.startswith(own_encoder):
        return any(f".{key}" in name.split("=")[0] for key in STAGE2_ENCODER_KEYS)
    return name.startswith(STAGE2_ONLY_PREFIXES)


def stage1_config(cfg: DictConfig, modality: str) -> DictConfig:
    """The config of the stage-1 run this stage-2 run depends on, for one modality.

    It is the stage-1 experiment named in `stage1.<modality>` plus the overrides of this run that concern
    shared things (data, seed, paths, trainer, this modality's encoder); optimiser, head and batch settings
    stay stage 1's.
    """
    experiment = cfg.stage1.get(modality)
    if not experiment:
        raise HarlitError(
            f"stage1.{modality} names no stage-1 experiment; set it or give model.{modality}_ckpt."
        )
    carried = [o for o in task_overrides(cfg) if not _is_stage2_only(o, modality)]
    overrides = [
        f"+experiment={experiment}",
        *carried,
        *list(cfg.get("stage1_overrides") or []),
        f"paths.output_dir={run_dir(cfg) / f'stage1_{modality}'}",
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


def ensure_encoders(cfg: DictConfig, train: Callable[[DictConfig], dict[str, Any]]) -> dict[str, Path]:
    """Path of each stage-1 encoder of a stage-2 run: explicit, registered, or trained now with `train`."""
    return {m: ensure_encoder(cfg, m, train) for m in ENCODER_MODALITIES}


def ensure_encoder(cfg: DictConfig, modality: str, train: Callable[[DictConfig], dict[str, Any]]) -> Path:
    explicit = cfg.model.get(f"{modality}_ckpt")
    if explicit:
        return Path(explicit).expanduser()
    sub = stage1_config(cfg, modality)
    key = key_of(sub, modality)
    registry = CheckpointRegistry(cfg.paths.registry_dir)
    if dist.is_external_multi_rank(cfg):
        # SLURM tasks or torchrun ranks are all ranks of one run: none may hold the lock while the others
        # train, so all look up, all train a missing encoder together, and rank 0 publishes it.
        found = registry.lookup(key)
        if found is None:
            train(sub)
            found = dist.wait_for_file(
                registry.folder(key) / ENCODER_FILE, what=f"rank 0's stage-1 {modality} run"
            )
        return found
    with registry.training_lock(key):
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
        train(sub)
        found = registry.lookup(key)
    if found is None:
        raise HarlitError(
            f"stage 1 for {modality} finished without registering an encoder in {registry.root}."
        )
    return found


def publish(cfg: DictConfig, key: dict[str, Any], encoder_file: Path, metrics: dict[str, Any]) -> Published:
    """Register a finished stage-1 run's encoder file under its key (rank 0 only)."""
    registry = CheckpointRegistry(cfg.paths.registry_dir)
    return registry.publish(key, encoder_file, {**metrics, "source_run": str(run_dir(cfg))})
