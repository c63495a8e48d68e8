"""Decoding a video into a clip with PyAV.

Frames are sampled on the clip's normalised time axis (segment centres, `sample_frame_indices`): the
frame index never comes from an assumed frame rate, so it lines up with the IMU stream, which covers the
same interval. The frame count comes from the demuxed packets, so only the chosen frames are converted
and resized (every frame is still decoded: H.264 frames depend on each other).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np
import torch

from harlit.data.clip_format import ClipSettings, describe
from harlit.data.transforms import sample_frame_indices

log = logging.getLogger(__name__)


class VideoDecodeError(Exception):
    """A video that cannot be turned into a clip; the message says why."""


def _resize_frame(frame: av.VideoFrame, settings: ClipSettings) -> np.ndarray:
    size = settings.frame_size
    if settings.resize == "squash":
        return frame.reformat(width=size, height=size, format="rgb24").to_ndarray()
    scale = size / min(frame.width, frame.height)
    width, height = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
    image = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]


def video_stream(container: av.container.InputContainer, threads: int | None) -> av.video.stream.VideoStream:
    """The container's first video stream, decoding with `threads` threads (None: FFmpeg's own choice)."""
    if not container.streams.video:
        raise VideoDecodeError("undecodable video: the file has no video stream")
    stream = container.streams.video[0]
    if threads:
        stream.codec_context.thread_count = threads
    else:
        stream.thread_type = "AUTO"
    return stream


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
        stream = video_stream(container, threads)
        packets: list[av.Packet] = []
        try:
            # Compressed packets are small (a few MB per clip); holding them gives the count up front.
            packets = [p for p in container.demux(stream) if p.size > 0]
        except (av.FFmpegError, OSError, ValueError) as err:
            error = describe(err)  # a truncated file: decode the packets that were read
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
            error = error or describe(err)
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
        raise VideoDecodeError(f"undecodable video: {describe(err)}") from None
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


class DecodingClips:
    """A VideoSource that decodes each clip on every access (no cache); for comparison and debugging."""

    def __init__(self, paths: Sequence[Path], settings: ClipSettings) -> None:
        self.paths = [str(p) for p in paths]
        self.settings = settings

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(decode_clip(self.paths[index], self.settings))


def video_seconds(path: str | Path) -> float | None:
    """A video's duration from its container header alone (no decoding); None when the header does not say."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return container.duration / av.time_base if container.duration is not None else None
    except (av.FFmpegError, OSError, ValueError):
        return None


def frame_times(path: str | Path) -> np.ndarray:
    """Presentation times (s, from the first frame) of every frame, ascending: the container's timestamps.

    Read from the demuxed packets (one per frame, as `decode_clip` counts them), so nothing is decoded;
    frame i of the decoder's output shows at times[i].
    """
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container, None)
            stamps = [p.pts if p.pts is not None else p.dts for p in container.demux(stream) if p.size > 0]
            time_base = stream.time_base
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoDecodeError(f"undecodable video: {describe(err)}") from None
    if not stamps or any(s is None for s in stamps) or time_base is None:
        raise VideoDecodeError("the container gives no timestamps for its frames")
    ticks = np.sort(np.asarray(stamps, dtype=np.int64))
    return (ticks - ticks[0]) * float(time_base)


def decode_windows(
    path: str | Path, settings: ClipSettings, chosen: Sequence[np.ndarray], threads: int | None = None
) -> Iterator[np.ndarray]:
    """The clip (3, T, H, W) uint8 of each window of frame indices, in one decoding pass over the video.

    `chosen[k]`: the frame indices of window k (e.g. `sample_frame_indices` over the frames in it), windows
    in time order. Only the frames of windows not yet yielded are held, so a long video needs little memory.
    """
    wanted = {int(i) for indices in chosen for i in indices}
    kept: dict[int, np.ndarray] = {}
    done, decoded = 0, 0
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container, threads)
            for frame in container.decode(stream):
                if decoded in wanted:
                    kept[decoded] = _resize_frame(frame, settings)
                while done < len(chosen) and int(chosen[done].max()) <= decoded:
                    clip = np.stack([kept[int(i)] for i in chosen[done]])  # (T, H, W, 3)
                    yield np.ascontiguousarray(clip.transpose(3, 0, 1, 2))
                    done += 1
                    if done == len(chosen):
                        return  # the frames after the last window are not needed
                    first = int(chosen[done].min())  # frames before the next window are no longer needed
                    kept = {i: f for i, f in kept.items() if i >= first}
                decoded += 1
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoDecodeError(f"undecodable video after {decoded} frames: {describe(err)}") from None
    if chosen:
        raise VideoDecodeError(f"decoding stopped after {decoded} frames, before the last window's frames")
