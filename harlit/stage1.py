"""Stage-1 dependencies of a stage-2 run: their configs, their registry key, and ensure-or-train.

The key of a stage-1 encoder is its resolved stage-1 config minus `KEY_ALLOW_LIST`, the settings that
cannot change its weights; everything else is in. A stage-2 run composes each stage-1 config from the
experiment named in `stage1.<modality>`, the overrides of its own command line that concern shared
things (`reaches_stage1`) and `stage1_overrides.<modality>`; it finds the encoder by that key, trains it
first when it is missing (once, across concurrent sweep jobs: the registry's training lock is taken here
and nowhere else), and otherwise reuses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from harlit import dist
from harlit.build import build_datamodule, run_dir
from harlit.config import compose_config, override_key, task_overrides, to_plain
from harlit.contract import ENCODER_DATA_KEYS, ENCODER_GROUPS, ENCODER_MODALITIES
from harlit.encoder_file import ENCODER_FILE
from harlit.errors import HarlitError
from harlit.io import atomic_write_json
from harlit.registry import CheckpointRegistry, Published

log = logging.getLogger(__name__)

KEY_VERSION = 2
# What a stage-1 key leaves out: settings that cannot change the encoder's weights. A dotted path covers
# everything below it. Everything else of the resolved config is in the key (tests/test_registry_key.py
# walks every leaf).
KEY_ALLOW_LIST = (
    # labels, bookkeeping and the stage-2 settings a stage-1 config carries along
    "name",
    "optimized_metric",
    "resume",  # a resumed run equals an uninterrupted one (RNG state is in every checkpoint)
    "ckpt_path",
    "stage1",
    "stage1_overrides",
    "logger",
    "paths",
    "hardware",  # how a step runs (channels_last); its trainer and data keys are keyed where they land
    # how batches are loaded, never what they hold
    "data.num_workers",
    "data.pin_memory",
    "data.prefetch_factor",
    "data.eval_batch_size",
    "data.prepare_workers",
    "data.cache_dir",
    "data.report_dir",
    # progress, logging, files and speed of a step
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "trainer.default_root_dir",
    "trainer.plugins",
    "trainer.benchmark",
    "callbacks.model_checkpoint.dirpath",
    "callbacks.model_checkpoint.filename",
    "callbacks.model_checkpoint.auto_insert_metric_name",
    "callbacks.model_checkpoint.save_last",
    "callbacks.preemption",
    "callbacks.device_resident",
    "model.video.channels_last",
)
# Replaced in the key by what they resolve to: the names of the classes hidden from this encoder.
KEY_RESOLVED = ("data.hidden_classes", "data.hidden_from", "data.num_hidden")
# The other modality's preprocessing and augmentation cannot change this encoder.
OTHER_MODALITY_KEYS = {
    "imu": tuple(f"data.{k}" for k in ENCODER_DATA_KEYS["video"])
    + ("data.cache_format", "data.cache_quality", "data.augment.video_flip", "data.augment.video_crop_scale"),
    "video": tuple(f"data.{k}" for k in ENCODER_DATA_KEYS["imu"])
    + (
        "data.augment.imu_jitter",
        "data.augment.imu_scale",
        "data.augment.imu_crop_scale",
        "data.augment.imu_rotation",
    ),
}

# Overrides of a stage-2 command line that reach its stage-1 runs: where the data comes from and how it is
# split, the seed, where files go, and the hardware. Nothing else does: an encoder's own settings and its
# preprocessing go through stage1_overrides.<modality> (and the encoder file then fixes them for stage 2);
# stage 2's recipe (epochs, optimiser, batch size, augmentation, head) is its own.
SHARED_GROUPS = ("data", "trainer", "paths", "hardware")  # group choices: data=mmact, hardware=gpu, ...
SHARED_KEYS = (  # these keys and everything below them
    "seed",
    "paths",
    "hardware",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.precision",
    "trainer.benchmark",
)
# data.* reaches stage 1 (the data source, split and loading) except the stage's own batch and
# augmentation and the encoders' preprocessing (contract.ENCODER_DATA_KEYS).
NOT_SHARED_DATA_KEYS = ("batch_size", "augment", *ENCODER_DATA_KEYS["imu"], *ENCODER_DATA_KEYS["video"])
NOT_SHARED = ("paths.output_dir",)  # each stage-1 run has its own folder


def reaches_stage1(override: str) -> bool:
    """Whether an override of a stage-2 command line also applies to the stage-1 runs it depends on."""
    key = override_key(override)
    if key in NOT_SHARED:
        return False
    if key in SHARED_GROUPS:
        return True
    if key.startswith("data."):
        return key.split(".")[1] not in NOT_SHARED_DATA_KEYS
    return any(key == k or key.startswith(k + ".") for k in SHARED_KEYS)


def for_every_stage(overrides: list[str]) -> list[str]:
    """Overrides for a stage-2 command line that apply `overrides` to it and to both of its stage-1 runs:
    the shared ones reach stage 1 by themselves, the others go through stage1_overrides.<modality>."""
    own = [o for o in overrides if not reaches_stage1(o)]
    quoted = ",".join(json.dumps(o) for o in own)
    return [*overrides, *(f"stage1_overrides.{m}=[{quoted}]" for m in ENCODER_MODALITIES if own)]


def _allowed(path: str, modality: str) -> bool:
    left_out = (*KEY_ALLOW_LIST, *KEY_RESOLVED, *OTHER_MODALITY_KEYS[modality])
    return any(path == p or path.startswith(p + ".") for p in left_out)


def _keyed(node: Any, modality: str, path: str = "") -> Any:
    if isinstance(node, Mapping):
        out = {}
        for name, value in sorted(node.items()):
            child = f"{path}.{name}" if path else str(name)
            if not _allowed(child, modality):
                out[name] = _keyed(value, modality, child)
        return out
    return node


def registry_key(
    config: Mapping[str, Any], modality: str, dataset: str, hidden_classes: list[str]
) -> dict[str, Any]:
    """The identity of the stage-1 encoder that `config` (resolved, plain, no hydra node) trains.

    Two runs with equal keys produce interchangeable encoders. `hidden_classes` are the names of the
    classes hidden from this modality (the datamodule resolves `num_hidden` and indices to names).
    """
    config = dict(config)
    data = dict(config.get("data") or {})
    if data.get("root") is not None:
        data["root"] = str(Path(str(data["root"])).expanduser().resolve())
    if data.get("cache_format", "uint8") == "uint8":
        data.pop("cache_quality", None)  # JPEG quality shapes the pixels only of a JPEG cache
    config["data"] = data
    trainer = config.get("trainer") or {}
    world_size = dist.devices_per_node(trainer) * int(trainer.get("num_nodes", 1) or 1)
    return {
        "key_version": KEY_VERSION,
        "dataset": dataset,
        "modality": modality,
        "hidden_classes": sorted(hidden_classes),
        "world_size": world_size,  # with data.batch_size and accumulate_grad_batches: the global batch
        "config": _keyed(config, modality),
    }


def plain_job_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config of a run as plain data, without Hydra's own node."""
    job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    return to_plain(job)


def key_of(cfg: DictConfig, modality: str) -> dict[str, Any]:
    """`registry_key` of a stage-1 config, with the dataset name and hidden classes `cfg.data` resolves to."""
    datamodule = build_datamodule(cfg, (modality,))
    hidden = [datamodule.class_names[i] for i in datamodule.hidden_for(modality)]
    return registry_key(plain_job_config(cfg), modality, datamodule.name, hidden)


def own_overrides(cfg: DictConfig, modality: str) -> list[str]:
    """`stage1_overrides.<modality>`: overrides for that stage-1 run only."""
    node = cfg.get("stage1_overrides")
    if node is None:
        return []
    if isinstance(node, (ListConfig, list)):
        raise HarlitError(
            "stage1_overrides is per modality: use stage1_overrides.imu=[...] and stage1_overrides.video=[...]."
        )
    unknown = sorted(set(node) - set(ENCODER_MODALITIES))
    if unknown:
        raise HarlitError(
            f"stage1_overrides.{unknown[0]} is no modality; use stage1_overrides.imu or .video."
        )
    return [str(o) for o in (node.get(modality) or [])]


def stage1_config(cfg: DictConfig, modality: str) -> DictConfig:
    """The config of the stage-1 run this stage-2 run depends on, for one modality.

    It is the stage-1 experiment named in `stage1.<modality>`, plus the overrides of this run that
    `reaches_stage1` or choose this modality's encoder (`model/<modality>_encoder=NAME`), plus
    `stage1_overrides.<modality>`.
    """
    experiment = cfg.stage1.get(modality)
    if not experiment:
        raise HarlitError(
            f"stage1.{modality} names no stage-1 experiment; set it or give model.{modality}_ckpt."
        )
    overrides = [
        f"+experiment={experiment}",
        *[o for o in task_overrides(cfg) if reaches_stage1(o) or override_key(o) == ENCODER_GROUPS[modality]],
        *own_overrides(cfg, modality),
        f"paths.output_dir={run_dir(cfg) / f'stage1_{modality}'}",
    ]
    try:
        sub = compose_config(overrides)
    except Exception as err:
        raise HarlitError(
            f"could not compose the stage-1 experiment {experiment!r} ({err}); check stage1.{modality} "
            f"and stage1_overrides.{modality}."
        ) from None
    if sub.model.modality != modality:
        raise HarlitError(
            f"stage1.{modality}={experiment} trains a {sub.model.modality} model, not a {modality} encoder; "
            f"name a stage-1 {modality} experiment."
        )
    with open_dict(sub):
        # Classes hidden from the other modality do not concern this encoder: it sees them all.
        if cfg.data.get("hidden_from", "both") not in (modality, "both"):
            sub.data.hidden_classes = []
            sub.data.num_hidden = 0
    return sub


@dataclass(frozen=True)
class Dependency:
    """One encoder a stage-2 run needs: an explicit file, or a stage-1 config and its registry key."""

    modality: str
    explicit: Path | None = None
    config: DictConfig | None = None
    key: dict[str, Any] | None = None


def dependencies(cfg: DictConfig) -> dict[str, Dependency]:
    """What each encoder of a stage-2 run is: composed, keyed and checked, before anything trains."""
    out = {}
    for modality in ENCODER_MODALITIES:
        own_overrides(cfg, modality)  # the shape of stage1_overrides is checked even beside a file
        explicit = cfg.model.get(f"{modality}_ckpt")
        if explicit:
            out[modality] = Dependency(modality, explicit=Path(explicit).expanduser())
            continue
        sub = stage1_config(cfg, modality)
        out[modality] = Dependency(modality, config=sub, key=key_of(sub, modality))
    return out


TrainFn = Callable[[DictConfig], dict[str, Any]]


def ensure_encoders(cfg: DictConfig, needs: Mapping[str, Dependency], train: TrainFn) -> dict[str, Path]:
    """Path of each stage-1 encoder of a stage-2 run: explicit, registered, or trained now with `train`."""
    return {m: ensure_encoder(cfg, dep, train) for m, dep in needs.items()}


def ensure_encoder(cfg: DictConfig, need: Dependency, train: TrainFn) -> Path:
    if need.explicit is not None:
        return need.explicit
    assert need.config is not None and need.key is not None
    registry = CheckpointRegistry(cfg.paths.registry_dir)
    if dist.is_external_multi_rank(cfg):
        return _ensure_on_every_rank(cfg, need, registry, train)
    with registry.training_lock(need.key):
        found = registry.lookup(need.key)
        if found is not None:
            log.info("Reusing the stage-1 %s encoder %s", need.modality, found)
            return found
        _train_missing(cfg, need, train)
        return _registered(registry, need)


def _registered(registry: CheckpointRegistry, need: Dependency) -> Path:
    assert need.key is not None
    found = registry.lookup(need.key)
    if found is None:
        raise HarlitError(
            f"stage 1 for {need.modality} finished without registering an encoder in {registry.root}."
        )
    return found


def _train_missing(cfg: DictConfig, need: Dependency, train: TrainFn) -> None:
    assert need.config is not None
    log.info(
        "No stage-1 %s encoder for this setting yet: training it first (%s, in %s)",
        need.modality,
        cfg.stage1[need.modality],
        need.config.paths.output_dir,
    )
    train(need.config)


def _ensure_on_every_rank(
    cfg: DictConfig, need: Dependency, registry: CheckpointRegistry, train: TrainFn
) -> Path:
    """SLURM tasks or torchrun ranks of one job: rank 0 decides (reuse or train) and tells the others.

    Each rank looking the registry up by itself could see different answers when another job publishes
    in between, and one rank would train while the others went on to stage 2. Rank 0 alone holds the
    training lock (the others train with it, inside the same DDP run); its decision goes to a file named
    after this job's launch, so a requeued job never reads an earlier attempt's.
    """
    assert need.key is not None
    decision_file = run_dir(cfg) / f"stage1_{need.modality}.decision.{dist.launch_id()}.json"
    target = registry.folder(need.key) / ENCODER_FILE
    if dist.global_rank() == 0:
        with registry.training_lock(need.key):
            found = registry.lookup(need.key)
            atomic_write_json(decision_file, {"encoder": str(found) if found else None})
            if found is not None:
                log.info("Reusing the stage-1 %s encoder %s", need.modality, found)
                return found
            _train_missing(cfg, need, train)
            return _registered(registry, need)
    decision = json.loads(dist.wait_for_file(decision_file, what="rank 0's stage-1 decision").read_text())
    if decision["encoder"]:
        return Path(decision["encoder"])
    train(need.config)
    return dist.wait_for_file(target, what=f"rank 0's stage-1 {need.modality} run")


def publish(cfg: DictConfig, key: dict[str, Any], encoder_file: Path, metrics: dict[str, Any]) -> Published:
    """Register a finished stage-1 run's encoder file under its key (rank 0 only)."""
    registry = CheckpointRegistry(cfg.paths.registry_dir)
    return registry.publish(key, encoder_file, {**metrics, "source_run": str(run_dir(cfg))})
