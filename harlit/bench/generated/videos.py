"""Generated video files: one encoder loop, and the pictures the tests and benchmarks write with it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import numpy as np


def encode_video(
    path: Path,
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    codec: str = "mpeg4",
    fps: int = 15,
    bit_rate: int | None = None,
    codec_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode (height, width, 3) uint8 RGB frames as yuv420p `codec` into whatever container the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps, options=codec_options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        for image in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def flat_frames(num_frames: int, width: int, height: int, seed: int) -> Iterator[np.ndarray]:
    """Flat colour changing from frame to frame, with an inverted block in the top left: frames that differ."""
    base = np.random.default_rng(seed).integers(0, 256, size=3)
    for i in range(num_frames):
        image = np.empty((height, width, 3), dtype=np.uint8)
        image[:] = (base + 9 * i) % 256
        image[: height // 2, : width // 3] = 255 - image[0, 0]
        yield image


def textured_frames(num_frames: int, width: int, height: int, seed: int) -> Iterator[np.ndarray]:
    """A textured scene (gradient, checkerboard, fixed noise) with an inverted block moving across it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx * 255 // max(1, width - 1))[..., None] * rng.uniform(0.3, 1.0, 3)).astype(np.uint8)
    base[(yy // 32 + xx // 32) % 2 == 1] //= 2
    base += rng.integers(0, 12, size=base.shape, dtype=np.uint8)
    box_h, box_w = max(1, height // 3), max(1, width // 6)
    for i in range(num_frames):
        image = base.copy()
        x, y = (i * 17) % max(1, width - box_w), (height - box_h) // 2
        image[y : y + box_h, x : x + box_w] = 255 - image[y : y + box_h, x : x + box_w]
        yield image


def camera_frames(num_frames: int, width: int, height: int, seed: int) -> Iterator[np.ndarray]:
    """A textured scene with a block gliding across it and fresh sensor noise in every frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx * 255 // max(1, width - 1))[..., None] * rng.uniform(0.3, 1.0, 3)).astype(np.uint8)
    base[(yy // 32 + xx // 32) % 2 == 1] //= 2  # texture, so the encoder has detail to spend bits on
    box_h, box_w = height // 3, width // 6
    for i in range(num_frames):
        image = base.copy()
        top = (height - box_h) * (1 + np.sin(i / 9)) / 2
        left = (width - box_w) * i / max(1, num_frames - 1)
        image[int(top) : int(top) + box_h, int(left) : int(left) + box_w] = (255 - 3 * i) % 256
        image += rng.integers(0, 8, size=(height, width, 1), dtype=np.uint8)  # sensor noise
        yield image


def write_video(path: Path, num_frames: int, width: int, height: int, seed: int = 0, fps: int = 15) -> Path:
    """A small colour video (mpeg4) whose frames differ, in whatever container the suffix names."""
    return encode_video(path, flat_frames(num_frames, width, height, seed), width, height, fps=fps)


def write_textured_video(path: Path, num_frames: int, width: int, height: int, seed: int = 0) -> Path:
    """A textured 15 fps mpeg4 clip with a moving block. Unlike flat colour, its cached JPEG clips come out
    at about the size of real footage's (0.19-0.23 MB per 16x224x224 clip at quality 90; MMAct's sample:
    0.19), so loader workers decode as much as they would from a real cache."""
    frames = textured_frames(num_frames, width, height, seed)
    return encode_video(path, frames, width, height, bit_rate=2_000_000)


def write_h264_video(
    path: Path,
    num_frames: int,
    width: int,
    height: int,
    seed: int = 0,
    fps: int = 30,
    bit_rate: int = 3_300_000,
    faststart: bool = False,
) -> Path:
    """An H.264 clip like MMAct's (High profile, B-frames, ~3.3 Mbit/s at 1080p): a textured scene with a moving block."""
    return encode_video(
        path,
        camera_frames(num_frames, width, height, seed),
        width,
        height,
        codec="libx264",
        fps=fps,
        bit_rate=bit_rate,
        codec_options={"preset": "veryfast"},
        container_options={"movflags": "faststart"} if faststart else None,  # index first: a cut file opens
    )


def write_clip_video(path: Path, clip: np.ndarray, fps: int = 15) -> Path:
    """A (3, T, H, W) uint8 clip as a near-lossless H.264 file (CRF 12)."""
    return encode_video(
        path,
        clip.transpose(1, 2, 3, 0),
        clip.shape[3],
        clip.shape[2],
        codec="libx264",
        fps=fps,
        codec_options={"crf": "12", "preset": "veryfast"},
    )
