"""Stage-1 encoder registry: encoder files stored under a key of everything that shaped their weights.

`root/<dataset>/<modality>-<digest>/{encoder.pt, key.json, metrics.json}`. What goes into a key is
decided in one place, `harlit.stage1.registry_key`; this module only stores and finds files.

Publishing never replaces an encoder: `encoder.pt` is created with a hard link, which fails when the
file exists, so neither a rerun nor two racing jobs can swap the weights a stage 2 has loaded. The lock
(`training_lock`) only makes concurrent sweep jobs that need the same missing encoder train it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harlit.encoder_file import ENCODER_FILE, EncoderFile
from harlit.errors import HarlitError
from harlit.io import atomic_write_json

log = logging.getLogger(__name__)


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _canonical(key: dict[str, Any]) -> Any:
    return json.loads(json.dumps(key, sort_keys=True, default=str))


@dataclass(frozen=True)
class Published:
    """Where the registered encoder for a key lives, and what publishing did.

    status: "added" (this call stored it), "identical" (the same weights were there already) or
    "kept_other" (different weights were there and stay; `note` says so).
    """

    path: Path
    status: str
    note: str = ""

    @property
    def registered(self) -> bool:
        """Whether the registry now serves this run's weights for the key."""
        return self.status != "kept_other"


class CheckpointRegistry:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def folder(self, key: dict[str, Any]) -> Path:
        return self.root / key["dataset"] / f"{key['modality']}-{key_digest(key)}"

    def lookup(self, key: dict[str, Any]) -> Path | None:
        path = self.folder(key) / ENCODER_FILE
        return path if path.is_file() else None

    @contextlib.contextmanager
    def training_lock(self, key: dict[str, Any]) -> Iterator[None]:
        """Exclusive across processes on this filesystem; blocks until the holder is done."""
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def publish(self, key: dict[str, Any], encoder_file: Path, metrics: dict[str, Any]) -> Published:
        """Add a finished run's encoder file under `key`, unless the key already holds one.

        An identical encoder already there is a no-op; a different one stays, and the returned note says
        so (the run's own file keeps its weights): a registered encoder is never overwritten silently.
        """
        folder = self.folder(key)
        stored_key = folder / "key.json"
        if stored_key.is_file() and json.loads(stored_key.read_text()) != _canonical(key):
            raise HarlitError(
                f"the registry folder {folder} holds another key under the same digest; "
                "move it away and run again."
            )
        encoder = EncoderFile.load(encoder_file)
        atomic_write_json(stored_key, key)
        target = folder / ENCODER_FILE
        if encoder.save(target, exclusive=True):
            atomic_write_json(folder / "metrics.json", metrics)
            return Published(target, "added")
        if EncoderFile.load(target).same_weights(encoder):
            return Published(target, "identical")
        note = (
            f"the registry already holds a different {key['modality']} encoder for this setting at {target}; "
            f"kept it, this run's encoder stays in {encoder_file} (delete {folder} to register this one)"
        )
        log.warning("%s", note)
        return Published(target, "kept_other", note)
