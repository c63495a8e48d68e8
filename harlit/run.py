"""Command line: `python -m harlit.run [+experiment=NAME] [overrides]` (Hydra)."""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harlit.config import CONFIG_DIR, refuse_replaced_overrides
from harlit.dist import leave_process_group
from harlit.errors import exit_on_user_error
from harlit.launchers import check_launcher_plugin, check_sweeper_plugin
from harlit.startup import configure
from harlit.train import train

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    # A sweeper (Optuna, Ax, Nevergrad) optimises this: a validation metric, never a test one.
    value = metrics.get("optimized_value")
    if value is None and HydraConfig.get().mode == RunMode.MULTIRUN:
        log.warning(
            "This run has no %s to return to a sweeper: selecting settings needs validation subjects "
            "(data.val_subjects=[...]).",
            cfg.get("optimized_metric"),
        )
    return value


@exit_on_user_error
def main() -> None:
    configure()
    check_launcher_plugin(sys.argv[1:])  # before Hydra, which would answer with a traceback
    check_sweeper_plugin(sys.argv[1:])
    refuse_replaced_overrides(sys.argv[1:])
    hydra_main()
    leave_process_group()  # ranks that SLURM or torchrun created trained in this process


if __name__ == "__main__":
    main()
