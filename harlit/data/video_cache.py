"""Decode every video once into small clips, then train from the cached files.

Layout: ``<cache_dir>/video/<dataset>-<settings digest>/``

* ``settings.json``: the preprocessing settings the digest was made from (frames, size, resize mode,
  cache format and, for JPEG, its quality). Any change gives another folder, so stale clips are never
  read. The uint8 format keeps the key it had before JPEG existed, so those caches keep their folder.
* ``clips/<id>-<fingerprint>.npy`` (``data.cache_format=uint8``): one clip (3, T, H, W) uint8,
  memory-mapped when read; lossless, 2.4 MB per 16x224x224 clip.
* ``clips/<id>-<fingerprint>.jpgs`` (``data.cache_format=jpeg``): the same T frames, each JPEG-compressed
  at ``data.cache_quality``, in one file with a checksum (`encode_jpeg_clip`); about 0.19 MB per
  16x224x224 clip at quality 90, decoded by the loader workers with `torchvision.io.decode_jpeg`.
  The fingerprint hashes the source path, size and mtime, so a replaced video is decoded again.
* ``done/<digest of the clip list>.json``: the completion marker of one set of clips, with the
  videos that failed to decode and why. Ranks that do not build wait for it.
* ``.lock``: flock held while preparing, so two preparers never write the same clip at once; the
  second one waits and then finds the work done. Each clip is written to a temp file and renamed,
  so a killed prepare leaves whole clips only and the next one resumes from them.

Frames are sampled on the clip's normalised time axis (segment centres, `sample_frame_indices`):
the frame index never comes from an assumed frame rate, so it lines up with the IMU stream, which
covers the same interval. The frame count comes from the demuxed packets, so only the chosen frames are
converted and resized (every frame is still decoded: H.264 frames depend on each other).

A cached clip that is truncated or corrupt is never served: reading it raises a HarlitError naming the
file, and a preparer that scans the folder decodes such clips again.
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
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg
from tqdm.auto import tqdm

from harlit.data.transforms import sample_frame_indices
from harlit.errors import HarlitError
from harlit.io import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the decoding itself changes, so old caches are not reused
RESIZE_MODES = ("squash", "crop")
CACHE_FORMATS = ("uint8", "jpeg")
CLIP_SUFFIXES = {"uint8": ".npy", "jpeg": ".jpgs"}
# A .jpgs file: magic, frames, height, width, crc32 of the JPEG bytes, then one uint32 size per frame,
# then the frames' JPEG files back to back.
JPEG_MAGIC = b"HARLITJ1"
JPEG_HEADER = struct.Struct("<8sIIII")


class VideoDecodeError(Exception):
    """A video that cannot be turned into a clip; the message says why."""


@dataclass(frozen=True)
class ClipSettings:
    """Everything that decides what a cached clip contains."""

    num_frames: int
    frame_size: int
    resize: str = "squash"  # squash: whole frame to a square; crop: short side to size, centre crop
    cache_format: str = "uint8"  # uint8: lossless .npy | jpeg: one JPEG per frame, ~13x smaller
    quality: int = 90  # JPEG quality of cache_format=jpeg

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise HarlitError(f"data.video_resize must be one of {list(RESIZE_MODES)}, not {self.resize!r}.")
        if self.num_frames < 1 or self.frame_size < 1:
            raise HarlitError(
                f"data.num_frames ({self.num_frames}) and data.frame_size ({self.frame_size}) must be positive."
            )
        if self.cache_format not in CACHE_FORMATS:
            raise HarlitError(
                f"data.cache_format must be one of {list(CACHE_FORMATS)}, not {self.cache_format!r}."
            )
        if not 1 <= int(self.quality) <= 100:
            raise HarlitError(f"data.cache_quality must be a JPEG quality from 1 to 100, not {self.quality}.")

    def key(self) -> dict[str, object]:
        key: dict[str, object] = {
            "num_frames": self.num_frames,
            "frame_size": self.frame_size,
            "resize": self.resize,
            "format": CACHE_FORMAT,
        }
        if self.cache_format != "uint8":  # uint8 keeps its pre-JPEG key, so existing caches keep their folder
            key.update(cache_format=self.cache_format, quality=int(self.quality))
        return key

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


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {str(err)[:120]}"


def _decode_pass(
    path: str | Path, settings: ClipSettings, threads: int | None, count: int | None
) -> tuple[dict[int, np.ndarray], int, int, str | None]:
    """One pass over a video: decode every frame, convert only those chosen for a clip of `count` frames.

    With `count` None the count is that of the demuxed video packets (one per frame), known before any
    frame is decoded. Returns the converted frames by index, the count they were chosen from, how many
    frames decoded, and the error that stopped demuxing or decoding early (None when it ran to the end).
    """
    kept: dict[int, np.ndarray] = {}
    decoded, error = 0, None
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoDecodeError("undecodable video: the file has no video stream")
        stream = container.streams.video[0]
        if threads:
            stream.codec_context.thread_count = threads
        else:
            stream.thread_type = "AUTO"
        packets: list[av.Packet] = []
        try:
            # Compressed packets are small (a few MB per clip); holding them gives the count up front.
            packets = [p for p in container.demux(stream) if p.size > 0]
        except (av.FFmpegError, OSError, ValueError) as err:
            error = _describe(err)  # a truncated file: decode the packets that were read
        if count is None:
            count = len(packets)
            if stream.frames and stream.frames != count and error is None:
                log.warning(
                    "%s: the container says %d frames but holds %d video packets; using the packets",
                    path,
                    stream.frames,
                    count,
                )
        wanted = set(sample_frame_indices(count, settings.num_frames).tolist()) if count else set()
        try:
            for packet in [*packets, None]:  # None flushes the frames the decoder still holds
                for frame in stream.decode(packet):
                    if decoded in wanted:
                        kept[decoded] = _resize_frame(frame, settings)
                    decoded += 1
        except (av.FFmpegError, OSError, ValueError) as err:
            error = error or _describe(err)
    return kept, count, decoded, error


def decode_clip(path: str | Path, settings: ClipSettings, threads: int | None = None) -> np.ndarray:
    """Decode a whole video with PyAV and return `num_frames` frames (3, T, H, W) uint8 on normalised time.

    Every frame is decoded but only the chosen ones are converted and resized: the same clip as converting
    every frame, at about the cost of decoding alone. `threads`: decoder threads (None: FFmpeg's choice).
    """
    try:
        kept, count, decoded, error = _decode_pass(path, settings, threads, None)
        if decoded and decoded != count:
            # Frames and packets disagree (a decode error, a broken file): choose again from the frames
            # that did decode, as a player would show them, in a second pass.
            log.warning(
                "%s: %d video packets but %d frames decoded%s; choosing frames from the %d",
                path,
                count,
                decoded,
                f" ({error})" if error else "",
                decoded,
            )
            kept, count, _, _ = _decode_pass(path, settings, threads, decoded)
        elif error:
            log.warning("%s: decoding stopped after %d frames (%s)", path, decoded, error)
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoDecodeError(f"undecodable video: {_describe(err)}") from None
    if not decoded:
        raise VideoDecodeError(f"undecodable video: {error or 'no frame could be decoded'}")
    chosen = sample_frame_indices(count, settings.num_frames)
    missing = sorted({int(i) for i in chosen} - set(kept))
    if missing:
        raise VideoDecodeError(
            f"undecodable video: frames {missing[:4]} did not decode again in a second pass"
        )
    clip = np.stack([kept[int(i)] for i in chosen])  # (T, H, W, 3)
    return np.ascontiguousarray(clip.transpose(3, 0, 1, 2))


def encode_jpeg_clip(clip: np.ndarray, quality: int) -> bytes:
    """A (3, T, H, W) uint8 clip as the bytes of a .jpgs file: header, frame sizes, JPEG frames."""
    frames = list(torch.from_numpy(np.ascontiguousarray(clip)).permute(1, 0, 2, 3))
    encoded = [bytes(e.numpy()) for e in encode_jpeg(frames, quality=int(quality))]
    payload = b"".join(encoded)
    _, count, height, width = clip.shape
    header = JPEG_HEADER.pack(JPEG_MAGIC, count, height, width, zlib.crc32(payload))
    return header + struct.pack(f"<{count}I", *(len(e) for e in encoded)) + payload


def _jpeg_layout(data: bytes, size: int) -> tuple[int, int, int, list[int], int]:
    """(frames, height, width, frame sizes, crc) from the start of a .jpgs file of `size` bytes; ValueError if torn."""
    if len(data) < JPEG_HEADER.size:
        raise ValueError(f"{size} bytes, shorter than the header")
    magic, count, height, width, crc = JPEG_HEADER.unpack_from(data)
    if magic != JPEG_MAGIC:
        raise ValueError("not a harlit JPEG clip (bad magic)")
    offset = JPEG_HEADER.size + 4 * count
    if len(data) < offset:
        raise ValueError(f"{size} bytes, shorter than the frame table")
    sizes = list(struct.unpack_from(f"<{count}I", data, JPEG_HEADER.size))
    if offset + sum(sizes) != size:
        raise ValueError(f"{size} bytes where the header announces {offset + sum(sizes)} (truncated?)")
    return count, height, width, sizes, crc


def decode_jpeg_clip(data: bytes, device: str | torch.device = "cpu") -> torch.Tensor:
    """The (3, T, H, W) uint8 clip of a .jpgs file's bytes, decoded in one batched call; ValueError if corrupt."""
    count, height, width, sizes, crc = _jpeg_layout(data, len(data))
    start = JPEG_HEADER.size + 4 * count
    if zlib.crc32(memoryview(data)[start:]) != crc:
        raise ValueError("checksum mismatch (corrupt JPEG data)")
    buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    bounds = np.cumsum([start, *sizes]).tolist()
    encoded = [buffer[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    try:
        frames = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
    except RuntimeError as err:
        raise ValueError(f"JPEG decoding failed: {str(err)[:120]}") from None
    if any(tuple(f.shape) != (3, height, width) for f in frames):
        raise ValueError(f"a frame does not decode to 3x{height}x{width}")
    return torch.stack(frames, dim=1)


def _fingerprint(path: Path) -> str:
    try:
        stat = path.stat()
        text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        text = f"{path.resolve()}|missing"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _safe_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", clip_id)[:120]


def write_clip(target: Path, clip: np.ndarray, settings: ClipSettings) -> None:
    """Write one clip atomically in the settings' cache format."""
    if settings.cache_format == "jpeg":
        data = encode_jpeg_clip(clip, settings.quality)
        atomic_write_bytes(target, lambda handle: handle.write(data))
    else:
        atomic_write_bytes(target, lambda handle: np.save(handle, clip, allow_pickle=False))


def is_whole_clip(path: Path) -> bool:
    """Whether a cached clip file is complete: its header parses and the file has the size it announces.

    Cheap (one small read), so a preparer can check every clip it would otherwise trust; corruption
    inside the data is caught when the clip is read (.jpgs checksum, JPEG decoder).
    """
    try:
        if path.suffix == ".jpgs":
            size = path.stat().st_size
            with open(path, "rb") as handle:
                head = handle.read(JPEG_HEADER.size)
                count = JPEG_HEADER.unpack_from(head)[1] if len(head) == JPEG_HEADER.size else 0
                _jpeg_layout(head + handle.read(4 * count), size)
            return True
        clip = np.load(path, mmap_mode="r", allow_pickle=False)  # maps only: raises if the file is short
        return clip.dtype == np.uint8 and clip.ndim == 4
    except (OSError, EOFError, ValueError, struct.error):
        return False


def read_clip(path: str | Path, device: str | torch.device = "cpu") -> torch.Tensor:
    """A cached clip (3, T, H, W) uint8; HarlitError naming the file when it is missing, torn or corrupt."""
    path = Path(path)
    try:
        if path.suffix == ".jpgs":
            return decode_jpeg_clip(path.read_bytes(), device)
        clip = np.load(path, mmap_mode="r", allow_pickle=False)
        if clip.dtype != np.uint8 or clip.ndim != 4:
            raise ValueError(f"holds {clip.dtype} {clip.shape}, not a (3, T, H, W) uint8 clip")
        # copy out of the map: the tensor outlives the file handle
        return torch.from_numpy(np.array(clip)).to(device)
    except (OSError, EOFError, ValueError) as err:
        raise HarlitError(
            f"cached clip {path} is unreadable ({_describe(err)}); delete it and {path.parent.parent / 'done'}, "
            "then run `python -m harlit.prepare` with the same data settings to decode it again."
        ) from None


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


class CachedClips:
    """A VideoSource over cached clips (.npy or .jpgs): `source[i]` reads clip i and returns it as a tensor.

    `device`: where .jpgs frames are decoded (torchvision.io.decode_jpeg); the CPU unless set. A GPU
    device only from the main process (data.num_workers=0): forked loader workers cannot use CUDA.
    """

    def __init__(self, paths: Sequence[Path | str], device: str | torch.device = "cpu") -> None:
        self.paths = [str(p) for p in paths]
        self.device = device

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return read_clip(self.paths[index], self.device)


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
                return done
            atomic_write_text(self.folder / "settings.json", json.dumps(self.settings.key(), indent=2))
            self.clips_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.clips_dir.glob(".*.tmp"):  # left by a killed prepare; we hold the lock
                stale.unlink(missing_ok=True)
            todo = [r for r in requests if not self._cached(r)]
            log.info("Video cache %s: %d of %d clips to decode", self.folder, len(todo), len(requests))
            failures = self._decode(todo, workers, progress)
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
