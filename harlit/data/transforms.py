"""Resampling and augmentation shared by every dataset."""

from __future__ import annotations

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


def augment_imu(imu: torch.Tensor, jitter: float, scale: float) -> torch.Tensor:
    """Gaussian jitter and per-sample, per-channel gain on a (batch, channels, time) batch."""
    out = imu
    if scale > 0:
        gains = 1.0 + scale * torch.randn(imu.shape[0], imu.shape[1], 1, device=imu.device, dtype=imu.dtype)
        out = out * gains
    if jitter > 0:
        out = out + jitter * torch.randn_like(out)
    return out
