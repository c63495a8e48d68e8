"""Embedded synthetic dataset: paired wrist IMU + RGB video whose modalities are complementary.

Generator
---------
A class is a pair (motion, scene): what the wrist does x what is seen, like "waving at" vs "wiping" a
window. 4 motions x 3 scenes = 12 classes named ``<motion>_<scene>``.

* IMU (6 channels, acc xyz in g + gyro xyz, 50 Hz) carries the motion only: each motion drives its own
  axes (wave: x, wipe: y, circle: x/y in quadrature, shake: z at high frequency). The scene leaves no
  trace, so an IMU-only model is capped near 1/3 of the classes' pairs.
* Video (RGB, 15 fps) carries the scene only: a window (blue grid), a table (brown bar) or a door (tall
  dark slab), plus a hand blob whose path is drawn from the same distribution for every motion. A
  video-only model is capped near 1/4.
* Fusion can reach every class, so a fused model beats both by a wide margin.

Nuisance, so the pipeline is exercised like on real data: per-subject style (tempo, gain, sensor
orientation, background tint, object placement), sensor noise and spikes, a random onset (time shift),
variable sequence lengths (100-200 IMU samples, 2-4 s of video) resampled onto one normalised time
axis, and occluded frames (grey boxes or dark frames).

Samples are generated deterministically from ``generator_seed`` alone: every (subject, class,
repetition) has its own random stream, so the data never depends on the training ``seed``. Subjects
are split like UTD-MHAD: odd subjects train, even subjects test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from harlit.data.base import HARDataModule, SampleTable
from harlit.data.transforms import resample_sequence, sample_frame_indices

MOTIONS = ("wave", "wipe", "circle", "shake")
SCENES = ("window", "table", "door")
CLASS_NAMES = [f"{motion}_{scene}" for motion in MOTIONS for scene in SCENES]
IMU_RATE_HZ = 50.0
VIDEO_RATE_HZ = 15.0


def _rotation(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    ax, ay, az = rng.uniform(-max_angle, max_angle, size=3)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def subject_style(generator_seed: int, subject: int) -> dict[str, Any]:
    rng = np.random.default_rng([generator_seed, subject, 1])
    return {
        "tempo": rng.uniform(0.8, 1.25),
        "gain": rng.uniform(0.7, 1.3),
        "rotation": _rotation(rng, 0.35),
        "tint": rng.uniform(0.25, 0.6, size=3),
        "object_offset": rng.uniform(-0.08, 0.08, size=2),
    }


def synth_imu(motion: int, style: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """A (time, 6) wrist recording at 50 Hz: rest, the motion, rest."""
    length = int(rng.integers(100, 201))
    t = np.arange(length) / IMU_RATE_HZ
    onset = rng.uniform(0.0, 0.25) * t[-1]
    active = (t >= onset) & (t <= onset + rng.uniform(0.6, 0.75) * t[-1])
    phase = rng.uniform(0, 2 * np.pi)
    w = 2 * np.pi * style["tempo"] * rng.uniform(0.9, 1.1)
    acc = np.zeros((length, 3))
    gyro = np.zeros((length, 3))
    if MOTIONS[motion] == "wave":
        acc[:, 0] = 0.8 * np.sin(1.6 * w * t + phase)
        gyro[:, 2] = 120 * np.cos(1.6 * w * t + phase)
    elif MOTIONS[motion] == "wipe":
        acc[:, 1] = 0.8 * np.sin(1.0 * w * t + phase)
        gyro[:, 0] = 90 * np.cos(1.0 * w * t + phase)
    elif MOTIONS[motion] == "circle":
        acc[:, 0] = 0.6 * np.sin(1.3 * w * t + phase)
        acc[:, 1] = 0.6 * np.cos(1.3 * w * t + phase)
        gyro[:, 2] = 60 * np.sin(1.3 * w * t + phase)
    else:  # shake
        acc[:, 2] = 0.5 * np.sin(4.0 * w * t + phase)
        gyro[:, 1] = 150 * np.sin(4.0 * w * t + phase)
    acc *= active[:, None]
    gyro *= active[:, None]
    gravity = np.array([0.0, 0.0, 1.0])
    acc = (acc + gravity) @ style["rotation"].T
    gyro = gyro @ style["rotation"].T
    signal = np.concatenate([acc, gyro / 100.0], axis=1) * style["gain"]
    signal += rng.normal(0, 0.05, size=signal.shape)
    spikes = rng.random(length) < 0.01
    signal[spikes] += rng.normal(0, 1.0, size=(int(spikes.sum()), 6))
    signal[:, 3:] *= 100.0  # gyro back to deg/s
    return signal.astype(np.float32)


def synth_clip(
    scene: int, style: dict[str, Any], rng: np.random.Generator, num_frames: int, size: int
) -> np.ndarray:
    """`num_frames` frames (uint8, 3 x T x size x size) sampled evenly from a 2-4 s clip at 15 fps."""
    available = int(round(rng.uniform(2.0, 4.0) * VIDEO_RATE_HZ))
    frame_times = sample_frame_indices(available, num_frames) / VIDEO_RATE_HZ
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    background = style["tint"][:, None, None] * (0.8 + 0.2 * yy)[None]
    cx, cy = np.array([0.5, 0.45]) + style["object_offset"] + rng.uniform(-0.06, 0.06, size=2)
    obj_mask = np.zeros((size, size), dtype=bool)
    obj_colour = np.zeros(3)
    if SCENES[scene] == "window":
        obj_mask = (np.abs(xx - cx) < 0.22) & (np.abs(yy - (cy - 0.1)) < 0.18)
        bars = (np.abs(xx - cx) < 0.02) | (np.abs(yy - (cy - 0.1)) < 0.02)
        obj_colour = np.array([0.55, 0.8, 1.0])
        frame_base = np.where(obj_mask & ~bars, obj_colour[:, None, None], background)
        frame_base = np.where(obj_mask & bars, 0.95, frame_base)
    else:
        if SCENES[scene] == "table":
            obj_mask = (np.abs(xx - cx) < 0.35) & (np.abs(yy - 0.8) < 0.08)
            obj_colour = np.array([0.55, 0.33, 0.12])
        else:  # door
            obj_mask = (np.abs(xx - cx) < 0.12) & (yy > 0.15)
            obj_colour = np.array([0.2, 0.15, 0.12])
        frame_base = np.where(obj_mask, obj_colour[:, None, None], background)
    # The hand path is independent of the motion: the camera barely sees what the wrist does.
    freq = rng.uniform(0.3, 0.8, size=2)
    amp = rng.uniform(0.05, 0.2, size=2)
    centre = rng.uniform(0.35, 0.65, size=2)
    frames = np.empty((num_frames, 3, size, size), dtype=np.float64)
    for i, t in enumerate(frame_times):
        hx = centre[0] + amp[0] * np.sin(2 * np.pi * freq[0] * t)
        hy = centre[1] + amp[1] * np.cos(2 * np.pi * freq[1] * t)
        hand = (xx - hx) ** 2 + (yy - hy) ** 2 < 0.008
        frame = np.where(hand, np.array([0.9, 0.7, 0.6])[:, None, None], frame_base)
        occlusion = rng.random()
        if occlusion < 0.08:
            frame = frame * 0.15
        elif occlusion < 0.18:
            x0, y0 = rng.uniform(0, 0.6, size=2)
            box = (xx >= x0) & (xx < x0 + 0.4) & (yy >= y0) & (yy < y0 + 0.4)
            frame = np.where(box, 0.5, frame)
        frames[i] = frame
    frames += rng.normal(0, 0.03, size=frames.shape)
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8).transpose(1, 0, 2, 3)


class SyntheticDataModule(HARDataModule):
    """Deterministic paired IMU + video data that needs no download; see the module docstring."""

    name = "synthetic"
    imu_rate_hz = IMU_RATE_HZ

    def __init__(
        self,
        num_subjects: int = 8,
        repetitions: int = 4,
        generator_seed: int = 0,
        train_subjects: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.num_subjects = num_subjects
        self.repetitions = repetitions
        self.generator_seed = generator_seed
        subjects = range(1, num_subjects + 1)
        self.train_subjects = list(train_subjects) if train_subjects else [s for s in subjects if s % 2 == 1]
        super().__init__(**kwargs)

    @property
    def class_names(self) -> list[str]:
        return list(CLASS_NAMES)

    def build_table(self, test_only: bool = False) -> SampleTable:
        # Samples are generated, not read: a test-only table is the whole table, of which setup tests the test rows.
        labels, subjects, ids, imus, clips, seconds = [], [], [], [], [], []
        for subject in range(1, self.num_subjects + 1):
            style = subject_style(self.generator_seed, subject)
            for cls, name in enumerate(CLASS_NAMES):
                motion, scene = divmod(cls, len(SCENES))
                for rep in range(self.repetitions):
                    rng = np.random.default_rng([self.generator_seed, subject, cls, rep])
                    imu = synth_imu(motion, style, rng)
                    seconds.append(len(imu) / IMU_RATE_HZ)  # a sample lasts as long as its IMU recording
                    if "imu" in self.modalities:
                        imus.append(resample_sequence(imu, self.imu_length).T)
                    if "video" in self.modalities:
                        clips.append(synth_clip(scene, style, rng, self.num_frames, self.frame_size))
                    labels.append(cls)
                    subjects.append(subject)
                    ids.append(f"s{subject}_{name}_r{rep}")
        return SampleTable(
            labels=np.asarray(labels, dtype=np.int64),
            subjects=np.asarray(subjects, dtype=np.int64),
            ids=ids,
            imu=torch.as_tensor(np.stack(imus), dtype=torch.float32) if imus else None,
            video=torch.as_tensor(np.stack(clips)) if clips else None,
            durations=np.asarray(seconds),
        )

    def split(self, table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
        is_train = np.isin(table.subjects, self.train_subjects)
        return np.flatnonzero(is_train), np.flatnonzero(~is_train)

    def split_setting(self) -> dict[str, Any]:
        subjects = range(1, self.num_subjects + 1)
        return {
            "train_subjects": sorted(self.train_subjects),
            **super().split_setting(),
            "test_subjects": [s for s in subjects if s not in self.train_subjects],
        }

    def split_keys(self, table: SampleTable) -> list[str]:
        return [
            f"data.num_subjects={self.num_subjects} (subjects {self.train_subjects} train, the others test)"
        ]
