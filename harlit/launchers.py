"""Hydra launcher and sweeper plugins: name the missing package in one sentence before Hydra prints a
traceback."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import yaml

from harlit.config import CONFIG_DIR
from harlit.errors import HarlitError

# Launchers Hydra knows as plugins: (module that provides it, the package to install).
PLUGIN_LAUNCHERS = {
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher.submitit_launcher", "hydra-submitit-launcher"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher.submitit_launcher", "hydra-submitit-launcher"),
    "joblib": ("hydra_plugins.hydra_joblib_launcher.joblib_launcher", "hydra-joblib-launcher"),
    "ray": ("hydra_plugins.hydra_ray_launcher.ray_launcher", "hydra-ray-launcher"),
    "ray_aws": ("hydra_plugins.hydra_ray_launcher.ray_aws_launcher", "hydra-ray-launcher"),
    "rq": ("hydra_plugins.hydra_rq_launcher.rq_launcher", "hydra-rq-launcher"),
}

# Command-line choices that need the Optuna sweeper plugin (the optuna extra, pinned in pyproject.toml).
OPTUNA_CHOICES = {("hydra/sweeper", "optuna"), ("sweep", "optuna")}
OPTUNA_MODULE = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper"


def requested_launcher(argv: Sequence[str]) -> str | None:
    """The `hydra/launcher=NAME` choice on a command line, if any."""
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "hydra/launcher" and value:
            return value
    return None


def launcher_module(name: str) -> tuple[str, str] | None:
    """(module, package) behind a launcher choice: harlit's own config's _target_, else a known plugin."""
    own = CONFIG_DIR / "hydra" / "launcher" / f"{name}.yaml"
    known = PLUGIN_LAUNCHERS.get(name)
    if own.is_file():
        target = (yaml.safe_load(own.read_text()) or {}).get("_target_", "")
        if target.startswith("hydra_plugins."):
            package = known[1] if known else target.split(".")[1].replace("_", "-")
            return target.rsplit(".", 1)[0], package
        return None
    return known


def check_launcher_plugin(argv: Sequence[str]) -> None:
    """Raise HarlitError when the launcher named on the command line comes from a plugin not installed."""
    name = requested_launcher(argv)
    found = launcher_module(name) if name else None
    if found is None:
        return
    module, package = found
    try:
        importlib.import_module(module)
    except ImportError:
        raise HarlitError(
            f"hydra/launcher={name} needs the {package} package, which is not installed; "
            f"install it with `pip install {package}` or choose another launcher."
        ) from None


def check_sweeper_plugin(argv: Sequence[str]) -> None:
    """Raise HarlitError when the command line asks for the Optuna sweeper and it is not installed."""
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if (key, value) not in OPTUNA_CHOICES:
            continue
        try:
            importlib.import_module(OPTUNA_MODULE)
        except ImportError:
            raise HarlitError(
                f"{arg} needs the Optuna sweeper, which is not installed; install harlit's optuna extra "
                "with `pip install -e '.[optuna]'` (make install does)."
            ) from None
