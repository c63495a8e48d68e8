"""`python -m harlit.prepare data=utd_mhad data.root=...`: decode every video once into the clip cache.

Same config tree as training, so `+experiment=NAME` and any `data.*` override give exactly the cache
that run will read (the cache folder is keyed by frames, size, resize mode and cache format). Safe to interrupt and
rerun, and to run twice at once. Training prepares by itself when the cache is missing.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from harlit.config import CONFIG_DIR, instantiate
from harlit.data.files import FileDataModule
from harlit.errors import HarlitError, exit_on_user_error
from harlit.startup import configure

log = logging.getLogger(__name__)


def prepare(cfg: DictConfig) -> dict[str, object]:
    """Fill the video cache for `cfg.data`; return where it is and what failed."""
    datamodule = instantiate(cfg.data, modalities=["video"], _convert_="all")
    if not isinstance(datamodule, FileDataModule):
        raise HarlitError(
            f"data={datamodule.name} has no video files to prepare; use a dataset read from disk."
        )
    cache, requests, failures = datamodule.prepare_videos(progress=True)
    for clip_id, reason in sorted(failures.items()):
        log.warning("%s: %s", clip_id, reason)
    summary = {"cache": str(cache.folder), "clips": len(requests), "failed": len(failures)}
    print(
        f"video cache {cache.folder}: {len(requests) - len(failures)} clips ready, {len(failures)} failed"
        + (" (listed above; training reports them as bad samples)" if failures else "")
    )
    return summary


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    prepare(cfg)


if __name__ == "__main__":
    configure()
    main()
