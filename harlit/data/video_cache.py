"""Decode every video once into small uint8 clips, then train from memory-mapped .npy files.

Layout: ``<cache_dir>/video/<dataset>-<settings digest>/``

* ``settings.json``: the preprocessing settings the digest was made from (frames, size, resize mode,
  cache format). Any change gives another folder, so stale clips are never read.
* ``clips/<id>-<fingerprint>.npy``: one clip (3, T, H, W) uint8. The fingerprint hashes the source
  path, size and mtime, so a replaced video is decoded again.
* ``done/<digest of the clip list>.json``: the completion marker of one set of clips, with the
  videos that failed to decode and why. Ranks that do not build wait for it.
* ``.lock``: flock held while preparing, so two preparers never write the same clip at once; the
  second one waits and then finds the work done. Each clip is written to a temp file and renamed,
  so a killed prepare leaves whole clips only and the next one resumes from them.

Frames are sampled on the clip's normalised time axis (segment centres, `sample_frame_indices`):
the frame index never comes from an assumed frame rate, so it lines up with the IMU stream, which
covers the same interval.
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
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch
from tqdm.auto import tqdm

from harlit.data.transforms import sample_frame_indices
from harlit.errors import HarlitError
from harlit.io import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the decoding itself changes, so old caches are not reused
RESIZE_MODES = ("squash", "crop")


class VideoDecodeError(Exception):
    """A video that cannot be turned into a clip; the message says why."""


@dataclass(frozen=True)
class ClipSettings:
    """Everything that decides what a cached clip contains."""

    num_frames: int
    frame_size: int
    resize: str = "squash"  # squash: whole frame to a square; crop: short side to size, centre crop

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise HarlitError(f"data.video_resize must be one of {list(RESIZE_MODES)}, not {self.resize!r}.")
        if self.num_frames < 1 or self.frame_size < 1:
            raise HarlitError(
                f"data.num_frames ({self.num_frames}) and data.frame_size ({self.frame_size}) must be positive."
            )

    def key(self) -> dict[str, object]:
        return {**asdict(self), "format": CACHE_FORMAT}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ClipRequest:
    """One video to cache, under the id of the sample it belongs to."""

    clip_id: str
    path: Path


def _resize_frame(frame: av.VideoFrame, settings: ClipSettings) -> np.ndarray:
    size = settings.frame_size
    if settings.resize == "squash":
        return frame.reformat(width=size, height=size, format="rgb24").to_ndarray()
    scale = size / min(frame.width, frame.height)
    width, height = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
    image = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]


def decode_clip(path: str | Path, settings: ClipSettings) -> np.ndarray:
    """Decode a whole video with PyAV and return `num_frames` frames (3, T, H, W) uint8 on normalised time."""
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError("undecodable video: the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                # Resize every frame now: the count is only known at the end, and small frames are cheap to keep.
                frames.append(_resize_frame(frame, settings))
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        if not frames:
            raise VideoDecodeError(f"undecodable video: {type(err).__name__}: {str(err)[:120]}") from None
        # A truncated tail: keep the frames that decoded, as players do.
        log.warning("%s: decoding stopped after %d frames (%s)", path, len(frames), type(err).__name__)
    if not frames:
        raise VideoDecodeError("undecodable video: no frame could be decoded")
    chosen = sample_frame_indices(len(frames), settings.num_frames)
    clip = np.stack([frames[i] for i in chosen])  # (T, H, W, 3)
    return np.ascontiguousarray(clip.transpose(3, 0, 1, 2))


def _fingerprint(path: Path) -> str:
    try:
        stat = path.stat()
        text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        text = f"{path.resolve()}|missing"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _safe_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", clip_id)[:120]


def _decode_to_file(source: str, target: str, settings: ClipSettings) -> str | None:
    """Worker: decode one video into `target` atomically; the failure reason, or None."""
    try:
        clip = decode_clip(source, settings)
    except VideoDecodeError as err:
        return str(err)
    atomic_write_bytes(Path(target), lambda handle: np.save(handle, clip, allow_pickle=False))
    return None


def global_rank() -> int:
    """This process's rank under DDP/SLURM launchers (0 when not distributed)."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 0


class CachedClips:
    """A VideoSource over cached clips: `source[i]` memory-maps clip i and returns it as a tensor."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        clip = np.load(self.paths[index], mmap_mode="r")
        return torch.from_numpy(np.array(clip))  # copy out of the map: the tensor outlives the file handle


class DecodingClips:
    """A VideoSource that decodes each clip on every access (no cache); for comparison and debugging."""

    def __init__(self, paths: Sequence[Path], settings: ClipSettings) -> None:
        self.paths = [str(p) for p in paths]
        self.settings = settings

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(decode_clip(self.paths[index], self.settings))


class VideoCache:
    """The decode-once cache of one dataset under one set of preprocessing settings."""

    def __init__(self, cache_dir: str | Path, dataset: str, settings: ClipSettings) -> None:
        self.settings = settings
        self.folder = Path(cache_dir).expanduser().resolve() / "video" / f"{dataset}-{settings.digest()}"
        self.clips_dir = self.folder / "clips"

    def clip_path(self, request: ClipRequest) -> Path:
        return self.clips_dir / f"{_safe_name(request.clip_id)}-{_fingerprint(request.path)}.npy"

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
                return done
            atomic_write_text(self.folder / "settings.json", json.dumps(self.settings.key(), indent=2))
            self.clips_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.clips_dir.glob(".*.tmp"):  # left by a killed prepare; we hold the lock
                stale.unlink(missing_ok=True)
            todo = [r for r in requests if not self.clip_path(r).is_file()]
            log.info("Video cache %s: %d of %d clips to decode", self.folder, len(todo), len(requests))
            failures = self._decode(todo, workers, progress)
            record = {"settings": self.settings.key(), "clips": len(requests), "failures": failures}
            atomic_write_text(self.marker_path(requests), json.dumps(record, indent=2, sort_keys=True))
            return failures

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
        jobs = [(str(r.path), str(self.clip_path(r)), self.settings) for r in todo]
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
