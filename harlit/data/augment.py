"""Training-batch augmentation (`data.augment`), applied on the device the batch lives on.

`conf/data/_common.yaml` gives `data.augment` a `_target_`, so Hydra builds an `Augmentation` when it builds
the datamodule; experiments override single keys (`augment: {imu_jitter: 0.05}`) as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from harlit.data.transforms import augment_imu, augment_video, rotate_imu
from harlit.errors import HarlitError


@dataclass(frozen=True)
class Augmentation:
    """What to do to a training batch; the defaults do nothing."""

    video_flip: bool = False
    video_crop_scale: float = 1.0  # < 1: random crop of this side ratio, resized back
    imu_jitter: float = 0.0  # std of Gaussian noise on normalised IMU
    imu_scale: float = 0.0  # std of per-channel gain around 1
    imu_crop_scale: float = 1.0  # < 1: random time window of at least this ratio, resampled back
    imu_rotation: float = 0.0  # max degrees of one random rotation per sample and device

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            kind = bool if item.name == "video_flip" else float
            object.__setattr__(self, item.name, kind(getattr(self, item.name)))

    @classmethod
    def of(cls, spec: Augmentation | Mapping[str, Any] | None) -> Augmentation:
        """The augmentation a datamodule was given: an Augmentation, a plain dict of its keys, or None (none)."""
        if spec is None or isinstance(spec, Augmentation):
            return spec or cls()
        if not isinstance(spec, Mapping):
            raise HarlitError(
                f"data.augment must be a mapping of augmentation keys, not {type(spec).__name__}."
            )
        values = {k: v for k, v in spec.items() if k != "_target_"}
        known = [item.name for item in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise HarlitError(f"data.augment has unknown key(s) {unknown}; the keys are {known}.")
        return cls(**values)

    def check_devices(self, imu_devices: Sequence[Sequence[int]], imu_channels: int | None) -> None:
        """Rotation needs the xyz triplets of each rigid sensor; fail at set-up, not in the first batch."""
        if self.imu_rotation <= 0:
            return
        if not imu_devices:
            raise HarlitError(
                "data.augment.imu_rotation needs data.imu_devices, the xyz channel triplets of each rigid "
                "sensor (e.g. [[0, 1, 2, 3, 4, 5]] for one accelerometer + gyroscope); set it or the rotation to 0."
            )
        for device in imu_devices:
            outside = [c for c in device if imu_channels is not None and not 0 <= c < imu_channels]
            if len(device) % 3 or len(set(device)) != len(device) or outside:
                raise HarlitError(
                    f"data.imu_devices entry {list(device)} must list distinct channel indices below "
                    f"data.imu_channels ({imu_channels}) in xyz triplets."
                )

    def __call__(
        self,
        batch: dict[str, Any],
        imu_devices: Sequence[Sequence[int]],
        imu_stats: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> dict[str, Any]:
        """Augment `batch` in this order (video, IMU rotation, IMU crop/gain/jitter): the RNG draws are part of a run's result."""
        if "video" in batch and (self.video_flip or self.video_crop_scale < 1.0):
            batch["video"] = augment_video(batch["video"], self.video_flip, self.video_crop_scale)
        if "imu" in batch and self.imu_rotation > 0:
            # Rotation acts on physical units: rotate_imu un-normalises with the training statistics.
            batch["imu"] = rotate_imu(batch["imu"], imu_devices, self.imu_rotation, imu_stats)
        if "imu" in batch and (self.imu_jitter or self.imu_scale or self.imu_crop_scale < 1.0):
            batch["imu"] = augment_imu(batch["imu"], self.imu_jitter, self.imu_scale, self.imu_crop_scale)
        return batch
