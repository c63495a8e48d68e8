"""The clip decoder as it was before chosen-frame decoding: convert and resize every frame, then choose.

Kept as the reference that `decode_clip` must equal (tests) and as the "old" speed (experiments/bench_prepare.py).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from harlit.data.clip_format import ClipSettings
from harlit.data.transforms import sample_frame_indices
from harlit.data.video_decode import VideoDecodeError, _resize_frame


def decode_clip_every_frame(
    path: str | Path, settings: ClipSettings, threads: int | None = None
) -> np.ndarray:
    """`num_frames` frames (3, T, H, W) uint8, converting every decoded frame (the pre-change decoder)."""
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError("undecodable video: the file has no video stream")
            stream = container.streams.video[0]
            if threads:
                stream.codec_context.thread_count = threads
            else:
                stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frames.append(_resize_frame(frame, settings))
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        if not frames:
            raise VideoDecodeError(f"undecodable video: {type(err).__name__}: {str(err)[:120]}") from None
    if not frames:
        raise VideoDecodeError("undecodable video: no frame could be decoded")
    chosen = sample_frame_indices(len(frames), settings.num_frames)
    clip = np.stack([frames[i] for i in chosen])
    return np.ascontiguousarray(clip.transpose(3, 0, 1, 2))


def decode_only(path: str | Path, threads: int | None = None) -> int:
    """Decode every frame and convert none: the floor that any clip decoder pays. Returns the frame count."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.codec_context.thread_count = threads
        else:
            stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            count += 1
    return count


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
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx * 255 // max(1, width - 1))[..., None] * rng.uniform(0.3, 1.0, 3)).astype(np.uint8)
    base[(yy // 32 + xx // 32) % 2 == 1] //= 2  # texture, so the encoder has detail to spend bits on
    options = {"movflags": "faststart"} if faststart else {}  # mp4 index first: a cut file still opens
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = width, height, "yuv420p", bit_rate
        box_h, box_w = height // 3, width // 6
        for i in range(num_frames):
            image = base.copy()
            top = (height - box_h) * (1 + np.sin(i / 9)) / 2
            left = (width - box_w) * i / max(1, num_frames - 1)
            image[int(top) : int(top) + box_h, int(left) : int(left) + box_w] = (255 - 3 * i) % 256
            image += rng.integers(0, 8, size=(height, width, 1), dtype=np.uint8)  # sensor noise
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
