"""`python -m harlit.worker <resolved-config.yaml>`: one DDP rank of a harlit job (see harlit/launch.py).

The launcher starts this module once per rank with the rank environment set; it trains from the
supervisor's resolved config and never starts Hydra, so it makes no folders of its own.
"""

from __future__ import annotations

import logging
import os
import sys

from omegaconf import DictConfig, OmegaConf

from harlit.dist import leave_process_group
from harlit.errors import exit_on_user_error
from harlit.startup import configure
from harlit.train import fit_and_test


def _configure_logging() -> None:
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=logging.INFO,
        format=f"[rank {rank}] %(asctime)s %(name)s %(levelname)s - %(message)s",
        stream=sys.stderr,
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m harlit.worker <resolved-config.yaml>", file=sys.stderr)
        sys.exit(2)
    configure()
    _configure_logging()
    cfg = OmegaConf.load(args[0])
    assert isinstance(cfg, DictConfig)
    fit_and_test(cfg)
    leave_process_group()


if __name__ == "__main__":
    main()
