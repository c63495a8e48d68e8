"""The decode-once video cache: every video decoded once into a clip file, then training reads the files.

Layout: ``<cache_dir>/video/<dataset>-<settings digest>/``

* ``settings.json``: the preprocessing settings the digest was made from (frames, size, resize mode,
  cache format and, for JPEG, its quality). Any change gives another folder, so stale clips are never
  read. The uint8 format keeps the key it had before JPEG existed, so those caches keep their folder.
* ``clips/<id>-<fingerprint>.npy`` or ``.jpgs``: one clip in the settings' format
  (`harlit.data.clip_format`). The fingerprint hashes the source path, size and mtime, so a replaced
  video is decoded again.
* ``done/<digest of the clip list>.json``: the completion marker of one set of clips, with the
  videos that failed to decode and why. Ranks that do not build wait for it.
* ``.lock``: flock held while preparing, so two preparers never write the same clip at once; the
  second one waits and then finds the work done. Each clip is written to a temp file and renamed,
  so a killed prepare leaves whole clips only and the next one resumes from them.

Decoding is `harlit.data.video_decode`; the clip formats and their reader are `harlit.data.clip_format`.

A cached clip that is truncated or corrupt is never served. Every set-up (`ensure`) checks the size and
header of each clip, the completion marker notwithstanding, and decodes a torn or missing one again before
training starts; corruption that keeps the size (caught by a .jpgs checksum) raises, when the clip is
read, a HarlitError naming the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import re
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from harlit.data.clip_format import CLIP_SUFFIXES, CachedClips, ClipSettings, is_whole_clip, write_clip
from harlit.data.video_decode import VideoDecodeError, decode_clip
from harlit.errors import HarlitError
from harlit.io import atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipRequest:
    """One video to cache, under the id of the sample it belongs to."""

    clip_id: str
    path: Path


def _fingerprint(path: Path) -> str:
    try:
        stat = path.stat()
        text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        text = f"{path.resolve()}|missing"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _safe_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", clip_id)[:120]


def _decode_to_file(
    source: str, target: str, settings: ClipSettings, threads: int | None = None
) -> str | None:
    """Worker: decode one video into `target` atomically; the failure reason, or None."""
    try:
        clip = decode_clip(source, settings, threads)
    except VideoDecodeError as err:
        return str(err)
    write_clip(Path(target), clip, settings)
    return None


class VideoCache:
    """The decode-once cache of one dataset under one set of preprocessing settings."""

    def __init__(self, cache_dir: str | Path, dataset: str, settings: ClipSettings) -> None:
        self.settings = settings
        self.folder = Path(cache_dir).expanduser().resolve() / "video" / f"{dataset}-{settings.digest()}"
        self.clips_dir = self.folder / "clips"

    def clip_path(self, request: ClipRequest) -> Path:
        suffix = CLIP_SUFFIXES[self.settings.cache_format]
        return self.clips_dir / f"{_safe_name(request.clip_id)}-{_fingerprint(request.path)}{suffix}"

    def marker_path(self, requests: Sequence[ClipRequest]) -> Path:
        names = "\n".join(sorted(self.clip_path(r).name for r in requests))
        return self.folder / "done" / f"{hashlib.sha256(names.encode()).hexdigest()[:16]}.json"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_marker(self, requests: Sequence[ClipRequest]) -> dict[str, str] | None:
        """Failures (clip id -> reason) recorded when this clip set was completed, or None if it was not."""
        marker = self.marker_path(requests)
        if not marker.is_file():
            return None
        return dict(json.loads(marker.read_text())["failures"])

    def ensure(
        self, requests: Sequence[ClipRequest], workers: int | None = None, progress: bool = True
    ) -> dict[str, str]:
        """Decode the clips not cached yet; return the videos that failed, with why. Safe to run concurrently."""
        with self.lock():
            done = self.read_marker(requests)
            if done is not None:
                # The marker vouches for the clips as they were written. A clip torn or deleted since is
                # found by a size and header check (no decoding) and decoded again, before training reads it.
                todo = [r for r in requests if r.clip_id not in done and not self._cached(r)]
                if not todo:
                    return done
                self.marker_path(requests).unlink()  # ranks that come to wait() now wait for the rebuild
            else:
                atomic_write_text(self.folder / "settings.json", json.dumps(self.settings.key(), indent=2))
                self.clips_dir.mkdir(parents=True, exist_ok=True)
                for stale in self.clips_dir.glob(".*.tmp"):  # left by a killed prepare; we hold the lock
                    stale.unlink(missing_ok=True)
                todo = [r for r in requests if not self._cached(r)]
            log.info("Video cache %s: %d of %d clips to decode", self.folder, len(todo), len(requests))
            failures = {**(done or {}), **self._decode(todo, workers, progress)}
            record = {"settings": self.settings.key(), "clips": len(requests), "failures": failures}
            atomic_write_text(self.marker_path(requests), json.dumps(record, indent=2, sort_keys=True))
            return failures

    def _cached(self, request: ClipRequest) -> bool:
        """Whether the clip of `request` is on disk and whole; a torn one is removed, to be decoded again."""
        path = self.clip_path(request)
        if not path.exists():
            return False
        if is_whole_clip(path):
            return True
        log.warning("%s: cached clip is truncated or unreadable; decoding %s again", path, request.path)
        path.unlink(missing_ok=True)
        return False

    def wait(
        self, requests: Sequence[ClipRequest], timeout_s: float = 24 * 3600, poll_s: float = 2.0
    ) -> dict[str, str]:
        """For ranks that do not build: block until the building rank has completed this clip set."""
        deadline = time.monotonic() + timeout_s
        while (done := self.read_marker(requests)) is None:
            if time.monotonic() > deadline:
                raise HarlitError(
                    f"waited {timeout_s:.0f} s for rank 0 to fill the video cache {self.folder}; check rank 0's log, "
                    "or run `python -m harlit.prepare` first."
                )
            time.sleep(poll_s)
        return done

    def _decode(self, todo: Sequence[ClipRequest], workers: int | None, progress: bool) -> dict[str, str]:
        failures: dict[str, str] = {}
        if not todo:
            return failures
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        bar = tqdm(
            total=len(todo), desc=f"Decoding videos ({workers} workers)", unit="clip", disable=not progress
        )
        # One decoder thread per process when several processes decode: the pool already fills the cores.
        threads = 1 if workers > 1 else None
        jobs = [(str(r.path), str(self.clip_path(r)), self.settings, threads) for r in todo]
        try:
            if workers == 1:
                for request, job in zip(todo, jobs, strict=True):
                    if (reason := _decode_to_file(*job)) is not None:
                        failures[request.clip_id] = reason
                    bar.update()
            else:
                # fork: workers need only PyAV and numpy, and start instantly.
                context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    futures = {
                        pool.submit(_decode_to_file, *job): r for r, job in zip(todo, jobs, strict=True)
                    }
                    for future in as_completed(futures):
                        if (reason := future.result()) is not None:
                            failures[futures[future].clip_id] = reason
                        bar.update()
        finally:
            bar.close()
        return failures

    def source(self, requests: Sequence[ClipRequest]) -> CachedClips:
        return CachedClips([self.clip_path(r) for r in requests])
