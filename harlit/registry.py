"""Stage-1 checkpoint registry: encoders stored under a key of everything they depend on.

A key is a small JSON document (dataset and its preprocessing, modality, train ratio, the classes hidden
from that modality, seed, encoder config); its digest names the folder. Writes are atomic and guarded by
a file lock, so concurrent sweep jobs that need the same encoder train it once and read a whole file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Data keys that change how batches are loaded, not what a model learns from (the training batch size
# does change it: it is part of the recipe, see harlit.train.registry_key).
LOADER_ONLY_KEYS = {
    "_target_",
    "batch_size",
    "eval_batch_size",
    "num_workers",
    "pin_memory",
    "seed",
    "hidden_classes",
    "hidden_from",
    "num_hidden",
    "on_bad_sample",
    "prepare_workers",
    "report_dir",
    "cache_dir",
}
# Encoder keys that only matter while training stage 2 or for speed.
ENCODER_RUNTIME_KEYS = {"trainable_blocks", "channels_last"}


def stage1_key(
    data_cfg: dict[str, Any],
    dataset: str,
    modality: str,
    encoder_cfg: dict[str, Any],
    seed: int,
    hidden_classes: list[str],
    recipe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The identity of a stage-1 encoder; two runs with equal keys produce interchangeable checkpoints.

    `recipe` is how the encoder was trained (head, optimiser, schedule, loss, epochs), so a short smoke
    run never stands in for the full stage 1 that a later stage 2 asks for.
    """
    data = {k: v for k, v in sorted(data_cfg.items()) if k not in LOADER_ONLY_KEYS}
    encoder = {k: v for k, v in sorted(encoder_cfg.items()) if k not in ENCODER_RUNTIME_KEYS}
    return {
        "dataset": dataset,
        "modality": modality,
        "train_ratio": float(data_cfg.get("train_ratio", 1.0)),
        "hidden_classes": sorted(hidden_classes),
        "seed": int(seed),
        "data": data,
        "encoder": encoder,
        "recipe": dict(sorted((recipe or {}).items())),
    }


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call write(file_obj) on a temp file beside `path`, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 files; give the result the umask's usual mode so a shared cluster can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda handle: handle.write(text.encode()))


class CheckpointRegistry:
    """`root/<dataset>/<modality>-<digest>/{encoder.pt, key.json, metrics.json}`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def folder(self, key: dict[str, Any]) -> Path:
        return self.root / key["dataset"] / f"{key['modality']}-{key_digest(key)}"

    def lookup(self, key: dict[str, Any]) -> Path | None:
        path = self.folder(key) / "encoder.pt"
        return path if path.is_file() else None

    @contextlib.contextmanager
    def lock(self, key: dict[str, Any]) -> Iterator[None]:
        """Exclusive across processes on this filesystem; blocks until the holder is done."""
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def register(self, key: dict[str, Any], encoder: nn.Module, metrics: dict[str, Any], source: str) -> Path:
        folder = self.folder(key)
        payload = {
            "modality": key["modality"],
            "encoder_state_dict": {k: v.detach().cpu() for k, v in encoder.state_dict().items()},
            "key": json.dumps(key, sort_keys=True, default=str),
        }
        path = folder / "encoder.pt"
        atomic_write_bytes(path, lambda handle: torch.save(payload, handle))
        atomic_write_text(folder / "key.json", json.dumps(key, indent=2, sort_keys=True, default=str))
        atomic_write_text(
            folder / "metrics.json", json.dumps({**metrics, "source_run": source}, indent=2, default=str)
        )
        return path
