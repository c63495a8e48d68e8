"""Process-wide settings every harlit entry point applies once at start-up: warning filters and logging
filters for notices that are expected in harlit runs and say nothing to its users."""

from __future__ import annotations

import logging
import warnings

EXPECTED_WARNINGS = (
    # No validation split by default, and tiny epochs in tests and demos.
    r"Total length of `list` across ranks is zero",
    r"The number of training batches .* is smaller than the logging",
    # A torch-internal deprecation inside Lightning itself.
    r".*LeafSpec.* is deprecated",
    # Frozen S3D blocks are in eval mode on purpose (their BatchNorm statistics stay put).
    r"Found \d+ module\(s\) in eval mode",
    # conf/hydra/launcher/submitit_*.yaml keep the plugin's names on purpose, so Hydra checks them against
    # the plugin's schema of the same name, which catches typos; the deprecation notice is noise.
    r".*is validated against ConfigStore schema with the same name",
)
ADVERT_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


def _not_an_advert(record: logging.LogRecord) -> bool:
    return "litlogger" not in str(record.msg)


def configure() -> None:
    """Install harlit's warning and logging filters (idempotent)."""
    for message in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    # Lightning advertises its hosted logger on every Trainer; it is noise in every run's log.
    for name in ADVERT_LOGGERS:
        logger = logging.getLogger(name)
        if _not_an_advert not in logger.filters:
            logger.addFilter(_not_an_advert)
