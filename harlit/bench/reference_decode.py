"""The clip decoder as it was before chosen-frame decoding: convert and resize every frame, then choose.

A second, independent implementation kept on purpose: the reference that `harlit.data.video_decode.
decode_clip` must equal (tests/test_video_cache.py), and the "old" speed of `python -m harlit.bench prepare`.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from harlit.data.clip_format import ClipSettings
from harlit.data.transforms import sample_frame_indices
from harlit.data.video_decode import VideoDecodeError, _resize_frame, video_stream


def decode_clip_every_frame(
    path: str | Path, settings: ClipSettings, threads: int | None = None
) -> np.ndarray:
    """`num_frames` frames (3, T, H, W) uint8, converting every decoded frame (the pre-change decoder)."""
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container, threads)
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
        for _ in container.decode(video_stream(container, threads)):
            count += 1
    return count
