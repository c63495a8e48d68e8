"""What a cached clip holds and how it is stored: the clip settings, and the two formats.

* ``.npy`` (``data.cache_format=uint8``): one clip (3, T, H, W) uint8, memory-mapped when read; lossless,
  2.4 MB per 16x224x224 clip.
* ``.jpgs`` (``data.cache_format=jpeg``): the same T frames, each JPEG-compressed at ``data.cache_quality``,
  in one file with a checksum (`encode_jpeg_clip`); about 0.19 MB per 16x224x224 clip at quality 90,
  decoded by the loader workers with `torchvision.io.decode_jpeg`.

A clip that is truncated or corrupt is never served: `is_whole_clip` finds a torn one at set-up, and
`read_clip` raises a HarlitError naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

from harlit.errors import HarlitError
from harlit.io import atomic_write_bytes

CACHE_FORMAT = 1  # bump when the decoding itself changes, so old caches are not reused
RESIZE_MODES = ("squash", "crop")
CACHE_FORMATS = ("uint8", "jpeg")
CLIP_SUFFIXES = {"uint8": ".npy", "jpeg": ".jpgs"}
# A .jpgs file: magic, frames, height, width, crc32 of the JPEG bytes, then one uint32 size per frame,
# then the frames' JPEG files back to back.
JPEG_MAGIC = b"HARLITJ1"
JPEG_HEADER = struct.Struct("<8sIIII")


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


def describe(err: Exception) -> str:
    return f"{type(err).__name__}: {str(err)[:120]}"


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


def write_clip(target: Path, clip: np.ndarray, settings: ClipSettings) -> None:
    """Write one clip atomically in the settings' cache format."""
    if settings.cache_format == "jpeg":
        data = encode_jpeg_clip(clip, settings.quality)
        atomic_write_bytes(target, lambda handle: handle.write(data))
    else:
        atomic_write_bytes(target, lambda handle: np.save(handle, clip, allow_pickle=False))


def is_whole_clip(path: Path) -> bool:
    """Whether a cached clip file is complete: its header parses and the file has the size it announces.

    Cheap (one small read, no decoding), so every set-up checks every clip; corruption inside the data
    is caught when the clip is read (.jpgs checksum, JPEG decoder).
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if path.suffix == ".jpgs":
                head = handle.read(JPEG_HEADER.size)
                count = JPEG_HEADER.unpack_from(head)[1] if len(head) == JPEG_HEADER.size else 0
                _jpeg_layout(head + handle.read(4 * count), size)
                return True
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_2_0
                if version >= (2, 0)
                else np.lib.format.read_array_header_1_0
            )
            shape, _, dtype = read_header(handle)
            return dtype == np.uint8 and len(shape) == 4 and size >= handle.tell() + math.prod(shape)
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
            f"cached clip {path} is unreadable ({describe(err)}); delete it: the next run, or `python -m "
            "harlit.prepare` with the same data settings, decodes it again."
        ) from None


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
