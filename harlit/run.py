"""Command line: `python -m harlit.run [+experiment=NAME] [overrides]` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from harlit import CONFIG_DIR
from harlit.errors import exit_on_user_error
from harlit.launchers import check_launcher_plugin
from harlit.train import train


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return metrics.get("test/top1")  # for sweepers that optimise a value


@exit_on_user_error
def main() -> None:
    check_launcher_plugin(sys.argv[1:])  # before Hydra, which would answer with a traceback
    hydra_main()


if __name__ == "__main__":
    main()
