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


# Command-line forms that changed, with the sentence that names their replacement ({value}: what was given).
REPLACED_OVERRIDES = {
    "stage1_overrides": (
        "stage1_overrides is per modality now: give stage1_overrides.imu=[...] and/or "
        "stage1_overrides.video=[...] (quote each element, e.g. 'stage1_overrides.imu=[\"model.imu.pooling=avg\"]')."
    ),
}
# harlit.evaluate and harlit.predict: `model` is the training config group of that name.
ENTRY_REPLACED_OVERRIDES = {
    "model": "model={value} is now model_path={value} (a run directory, its model.pt or a .ckpt).",
}


def refuse_replaced_overrides(argv: Sequence[str], replaced: dict[str, str] = REPLACED_OVERRIDES) -> None:
    """One sentence, before Hydra answers with its own error, for an override whose form has changed."""
    for arg in argv:
        if "=" in arg and not arg.startswith(("+", "~")) and override_key(arg) in replaced:
            raise HarlitError(replaced[override_key(arg)].format(value=arg.split("=", 1)[1]))


def check_entry_overrides(argv: Sequence[str]) -> None:
    """The command line of harlit.evaluate / harlit.predict, checked (never rewritten) before Hydra reads it.

    Their configs have no data keys of their own (the model's data config is used), so a data key is new
    to them and takes Hydra's `+`, unless `data=NAME` chose a dataset config.
    """
    refuse_replaced_overrides(argv, ENTRY_REPLACED_OVERRIDES)
    chooses_data = any("=" in a and override_key(a) == "data" for a in argv)
    for arg in argv:
        if "=" in arg and arg[0] not in "+~" and override_key(arg).startswith("data.") and not chooses_data:
            raise HarlitError(
                f"{arg} changes the model's own data config, which this config does not hold: write +{arg} "
                "(or choose another dataset with data=NAME first)."
            )


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
