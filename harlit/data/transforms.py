"""Resampling, normalisation statistics and augmentation shared by every dataset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def resample_sequence(values: np.ndarray, length: int) -> np.ndarray:
    """Linearly resample a (time, channels) sequence to `length` samples over normalised time."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or len(values) < 2:
        raise ValueError(f"expected (time >= 2, channels), got {values.shape}")
    src = np.linspace(0.0, 1.0, len(values))
    dst = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(dst, src, values[:, c]) for c in range(values.shape[1])], axis=1)


def sample_frame_indices(num_available: int, num_frames: int) -> np.ndarray:
    """`num_frames` indices spread evenly over a clip; short clips repeat frames (temporal padding)."""
    if num_available <= 0:
        raise ValueError("a clip without frames cannot be sampled")
    # Centres of num_frames equal segments, on the normalised time axis shared with the IMU.
    centres = (np.arange(num_frames) + 0.5) / num_frames
    return np.minimum((centres * num_available).astype(np.int64), num_available - 1)


def imu_statistics(imu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std), each (channels, 1), of a (samples, channels, time) IMU tensor.

    Padding (NaN, see `pad_recordings`) is left out of the statistics.
    """
    padding = torch.isnan(imu)
    if not bool(padding.any()):
        mean = imu.mean(dim=(0, 2), keepdim=False).view(-1, 1)
        std = imu.std(dim=(0, 2)).clamp_min(1e-6).view(-1, 1)
        return mean, std
    count = (~padding).sum(dim=(0, 2))
    mean = torch.where(padding, 0.0, imu).sum(dim=(0, 2)) / count
    squares = torch.where(padding, 0.0, imu - mean.view(1, -1, 1)) ** 2
    std = (squares.sum(dim=(0, 2)) / (count - 1)).sqrt()
    return mean.view(-1, 1), std.clamp_min(1e-6).view(-1, 1)


def normalise_imu(imu: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """(imu - mean) / std; padded steps (NaN) become 0 after normalisation: zero padding."""
    if stats is not None:
        imu = (imu - stats[0]) / stats[1]
    return torch.where(torch.isnan(imu), 0.0, imu)


def pad_recordings(recordings: list[np.ndarray]) -> np.ndarray:
    """(channels, time_i) recordings stacked to (samples, channels, longest), NaN after each one's end.

    NaN marks padding, so statistics leave it out and `normalise_imu` turns it into zeros.
    """
    longest = max(r.shape[1] for r in recordings)
    out = np.full((len(recordings), recordings[0].shape[0], longest), np.nan, dtype=np.float32)
    for i, recording in enumerate(recordings):
        out[i, :, : recording.shape[1]] = recording
    return out


def fit_to_length(imu: torch.Tensor, length: int) -> tuple[torch.Tensor, int]:
    """Native-rate recordings (samples, channels, time), NaN after each one's end, brought to `length` steps.

    The one rule of a zero-padded model, in evaluation, prediction and stage 2 alike, so that a
    recording is prepared the same whatever else is in its batch: a shorter recording is padded (NaN,
    zero after normalisation), a longer one keeps its central `length` samples. Returns the recordings
    and how many were cut.
    """
    lengths = (~torch.isnan(imu[:, 0, :])).sum(dim=1).tolist()
    out = torch.full((imu.shape[0], imu.shape[1], length), float("nan"), dtype=imu.dtype)
    for row, count in enumerate(lengths):
        start, kept = max(0, (count - length) // 2), min(count, length)
        out[row, :, :kept] = imu[row, :, start : start + kept]
    return out, sum(count > length for count in lengths)


def augment_video(
    clips: torch.Tensor, flip: bool, crop_scale: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random horizontal flip and random crop (resized back) on a (batch, 3, T, H, W) batch, on its device."""
    batch, _, _, height, width = clips.shape
    out = clips
    if crop_scale < 1.0:
        crop_h, crop_w = max(1, round(height * crop_scale)), max(1, round(width * crop_scale))
        tops = torch.randint(0, height - crop_h + 1, (batch,), generator=generator)
        lefts = torch.randint(0, width - crop_w + 1, (batch,), generator=generator)
        corners = zip(tops.tolist(), lefts.tolist(), strict=True)
        crops = [
            out[i, :, :, top : top + crop_h, left : left + crop_w] for i, (top, left) in enumerate(corners)
        ]
        stacked = torch.stack(crops).float()
        b, c, t, h, w = stacked.shape
        resized = torch.nn.functional.interpolate(
            stacked.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w),
            size=(height, width),
            mode="bilinear",
            align_corners=False,
        )
        out = resized.reshape(b, t, c, height, width).permute(0, 2, 1, 3, 4)
        if clips.dtype == torch.uint8:
            out = out.round_().clamp_(0, 255).to(torch.uint8)
    if flip:
        mask = torch.rand(batch, generator=generator) < 0.5
        if mask.any():
            out = out.clone()
            out[mask.to(out.device)] = out[mask.to(out.device)].flip(-1)
    return out


def random_rotations(
    batch: int, max_degrees: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(batch, 3, 3) rotation matrices about uniformly random axes, by angles uniform in ±max_degrees."""
    axis = torch.nn.functional.normalize(torch.randn(batch, 3, generator=generator), dim=1)
    angle = torch.deg2rad((2 * torch.rand(batch, generator=generator) - 1) * max_degrees).view(-1, 1, 1)
    cross = torch.zeros(batch, 3, 3)
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    cross = cross - cross.transpose(1, 2)
    return torch.eye(3) + angle.sin() * cross + (1 - angle.cos()) * cross @ cross  # Rodrigues


def rotate_imu(
    imu: torch.Tensor,
    devices: Sequence[Sequence[int]],
    max_degrees: float,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rotate each device's xyz channels by one random rotation per sample: a sensor worn a little differently.

    `devices` lists, per rigid device, its channel indices in xyz triplets (e.g. accelerometer then
    gyroscope). Rotation acts on physical units, so normalised input is un-normalised with `stats`
    (mean, std of shape (channels, 1)) first and normalised again after.
    """
    out = imu if stats is None else imu * stats[1].to(imu) + stats[0].to(imu)
    out = out.clone()
    for channels in devices:
        rotation = random_rotations(len(imu), max_degrees, generator).to(imu)
        for first in range(0, len(channels), 3):
            triplet = list(channels[first : first + 3])
            out[:, triplet] = rotation @ out[:, triplet]
    return out if stats is None else (out - stats[0].to(imu)) / stats[1].to(imu)


def augment_imu(
    imu: torch.Tensor,
    jitter: float,
    scale: float,
    crop_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random time crop (resampled back), per-channel gain and Gaussian jitter on a (batch, channels, time) batch.

    With `crop_scale` < 1 each sample keeps a random window of between `crop_scale` and all of its length,
    linearly resampled back to the full length: a random shift and stretch in time.
    """
    out = imu
    batch, _, length = imu.shape
    if crop_scale < 1.0 and length > 1:
        kept = crop_scale + (1.0 - crop_scale) * torch.rand(batch, 1, generator=generator)
        starts = (1.0 - kept) * torch.rand(batch, 1, generator=generator)
        positions = (starts + kept * torch.linspace(0.0, 1.0, length)) * (length - 1)
        left = positions.floor().long().clamp_(0, length - 2)
        weight = (positions - left).to(device=imu.device, dtype=imu.dtype).unsqueeze(1)
        left = left.to(imu.device).unsqueeze(1).expand(-1, imu.shape[1], -1)
        out = out.gather(2, left) * (1 - weight) + out.gather(2, left + 1) * weight
    if scale > 0:
        gains = 1.0 + scale * torch.randn(imu.shape[0], imu.shape[1], 1, device=imu.device, dtype=imu.dtype)
        out = out * gains
    if jitter > 0:
        out = out + jitter * torch.randn_like(out)
    return out
