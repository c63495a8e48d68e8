"""Composing and instantiating harlit's Hydra configs from code (stage-1 dependencies, tests, tools)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from harlit.errors import HarlitError

# The Hydra config tree lives beside the package (editable install), see README "Layout".
CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose_config(
    overrides: Sequence[str] = (), return_hydra_config: bool = True, config_name: str = "config"
) -> DictConfig:
    """Compose `conf/<config_name>.yaml` (training's `config`, or `eval`, `predict`) with overrides,
    inside or outside a running Hydra app."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def task_overrides(cfg: DictConfig | None = None) -> list[str]:
    """The overrides a config was composed with: its own `hydra` node, else the running job's, else []."""
    if cfg is not None and "hydra" in cfg:
        return list(cfg.hydra.overrides.task)
    if HydraConfig.initialized():
        return list(HydraConfig.get().overrides.task)
    return []


def override_key(override: str) -> str:
    """The config key or group an override sets: `++data.x=1` -> `data.x`, `model/head=late` -> `model/head`."""
    return override.lstrip("~+").split("=", 1)[0].strip()


# Command-line forms that changed, with the sentence that names their replacement.
REPLACED_OVERRIDES = {
    "stage1_overrides": (
        "stage1_overrides is per modality now: give stage1_overrides.imu=[...] and/or "
        "stage1_overrides.video=[...] (quote each element, e.g. 'stage1_overrides.imu=[\"model.imu.pooling=avg\"]')."
    ),
}


def refuse_replaced_overrides(argv: list[str]) -> None:
    """One sentence, before Hydra answers with its own error, for an override whose form has changed."""
    for arg in argv:
        if "=" in arg and override_key(arg) in REPLACED_OVERRIDES:
            raise HarlitError(REPLACED_OVERRIDES[override_key(arg)])


def instantiate(node: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate that lets harlit's user errors through unwrapped."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, HarlitError):
            cause = cause.__cause__
        if isinstance(cause, HarlitError):
            raise cause from None
        raise


def to_plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def entry_overrides(argv: list[str]) -> list[str]:
    """The command line as the eval/predict configs read it.

    `model=X` names the model file (`model_path`; conf/model/ is the training config group of that name),
    and `data.root=X` works with or without `data=NAME` (these configs have no data node of their own).
    """
    out = []
    for arg in argv:
        if arg.startswith("model="):
            arg = f"model_path={arg.split('=', 1)[1]}"
        elif arg.startswith("data.") and "=" in arg:
            arg = f"++{arg}"
        out.append(arg)
    return out
