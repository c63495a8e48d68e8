"""Writers of tiny dataset trees in the real formats (UTD-MHAD .mat/.avi, MMAct .mp4/.csv), for the data tests."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.io

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real sample files: $HARLIT_SHARED_DATA, else ../shared/data beside the repository."""
    if os.environ.get("HARLIT_SHARED_DATA"):
        return Path(os.environ["HARLIT_SHARED_DATA"])
    return REPO_ROOT.parent / "shared" / "data"


SHARED_DATA = shared_data_dir()
UTD_INERTIAL = SHARED_DATA / "utd_mhad" / "Inertial"
MMACT_CLIP = SHARED_DATA / "mmact" / "sample_clip" / "carrying.mp4"


def in_ci() -> bool:
    """Whether the tests run in CI (CI=true, or 1/yes), where the real files must be present."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def requires_shared_data(path: Path, what: str) -> None:
    """Call first in a test that needs real files: skip with the reason when `path` is missing, fail in CI.

    CI always has ../shared beside the repository, so there a missing file is a broken setup, not a reason
    to pass quietly with the test skipped.
    """
    if path.exists():
        return
    reason = (
        f"{what} not found at {path} (set HARLIT_SHARED_DATA, or put the shared data in ../shared/data "
        "beside the repository)"
    )
    if in_ci():
        pytest.fail(
            f"{reason}; CI=true, where they must be present, so this test fails instead of skipping.",
            pytrace=False,
        )
    pytest.skip(reason)


# DataModule sizes that keep loader tests fast: short IMU, 8 frames of 32x32, one decoding process.
TINY_LOADER = {"imu_length": 64, "num_frames": 8, "frame_size": 32, "prepare_workers": 1}


def write_video(path: Path, num_frames: int, width: int, height: int, seed: int = 0, fps: int = 15) -> Path:
    """A small colour video (mpeg4) whose frames differ, in whatever container the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=3)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            image = np.empty((height, width, 3), dtype=np.uint8)
            image[:] = (base + 9 * i) % 256
            image[: height // 2, : width // 3] = 255 - image[0, 0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def utd_signal(action: int, subject: int, trial: int, length: int | None = None) -> np.ndarray:
    """A (time, 6) inertial recording whose dominant axis and frequency depend on the action."""
    rng = np.random.default_rng([action, subject, trial])
    length = length or int(rng.integers(107, 160))
    t = np.linspace(0, 1, length)
    signal = rng.normal(0, 0.05, size=(length, 6))
    signal[:, action % 6] += np.sin(2 * np.pi * (1 + action % 4) * t)
    signal[:, 2] += 1.0  # gravity
    signal[:, 3:] *= 100.0
    return signal


def make_utd_tree(
    root: Path,
    actions: Iterable[int] = (1, 2, 3),
    subjects: Iterable[int] = (1, 2),
    trials: Iterable[int] = (1, 2),
    frames: int = 12,
    rgb_parts: bool = False,
    with_video: bool = True,
) -> list[str]:
    """Inertial/*.mat and RGB/*.avi (or RGB-part1..2 with files at their roots); returns the sample ids."""
    ids = []
    for a in actions:
        for s in subjects:
            for t in trials:
                sample = f"a{a}_s{s}_t{t}"
                ids.append(sample)
                inertial = root / "Inertial" / f"{sample}_inertial.mat"
                inertial.parent.mkdir(parents=True, exist_ok=True)
                scipy.io.savemat(inertial, {"d_iner": utd_signal(a, s, t)})
                if with_video:
                    folder = root / (f"RGB-part{1 + (a % 2)}" if rgb_parts else "RGB")
                    write_video(folder / f"{sample}_color.avi", frames, 64, 48, seed=a * 100 + s * 10 + t)
    return ids


def sensor_rows(start_s: float, duration_s: float, rate_hz: float, phase: float) -> list[str]:
    """Header-less MMAct sensor rows `YYYYMMDD_HH:MM:SS.fff,x,y,z`."""
    rows = []
    count = int(duration_s * rate_hz)
    for i in range(count):
        seconds = start_s + i / rate_hz
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        stamp = f"20181011_{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"
        values = np.sin(phase + np.array([1.0, 2.0, 3.0]) * i / rate_hz)
        rows.append(f"{stamp},{values[0]:.5f},{values[1]:.5f},{values[2]:.5f}")
    return rows


SENSOR_FOLDERS = {
    "acc_phone": "acc_phone_clip",
    "acc_watch": "acc_watch_clip",
    "gyro": "gyro_clip",
    "orientation": "orientation_clip",
}
SENSOR_RATES = {"acc_phone": 100.0, "acc_watch": 100.0, "gyro": 50.0, "orientation": 50.0}


def write_mmact_sample(
    root: Path,
    subject: int,
    scene: int,
    session: int,
    stem: str,
    cams: Sequence[int] = (1, 2),
    frames: int = 10,
    sensors: Sequence[str] = tuple(SENSOR_FOLDERS),
    seed: int = 0,
) -> None:
    """One action of the trimmed release: a video per camera and one CSV per sensor (no camera level).

    Sensors start at slightly different times and run for different lengths (the real data does), at
    100 Hz (accelerometers) and 50 Hz (gyroscope, orientation).
    """
    rel = Path(f"subject{subject}") / f"scene{scene}" / f"session{session}"
    for cam in cams:
        write_video(
            root
            / "Video_trimmed"
            / f"subject{subject}"
            / f"cam{cam}"
            / f"scene{scene}"
            / f"session{session}"
            / f"{stem}.mp4",
            frames,
            48,
            27,
            seed=seed + cam,
            fps=30,
        )
    for k, sensor in enumerate(sensors):
        path = root / "Sensor_trimmed" / SENSOR_FOLDERS[sensor] / rel / f"{stem}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = sensor_rows(36000.0 + 0.05 * k, 2.0 + 0.3 * k, SENSOR_RATES[sensor], phase=seed + k)
        path.write_text("\n".join(rows) + "\n")


def make_mmact_tree(root: Path) -> dict[str, list[str]]:
    """A tiny trimmed-release tree with every quirk the loader handles; returns what was planted where."""
    plan = [  # (subject, scene, session, stem)
        (1, 1, 1, "walking"),
        (1, 3, 1, "talking_on_phone"),
        (1, 1, 2, "Carrying_light"),
        (2, 1, 1, "walking"),
        (2, 3, 1, "using_phone"),
        (2, 1, 1, "talking_on_phone"),
        (17, 1, 1, "walking"),
        (17, 3, 1, "talking_on_phone"),
        (17, 1, 1, "carrying_light"),
    ]
    for i, (subject, scene, session, stem) in enumerate(plan):
        write_mmact_sample(root, subject, scene, session, stem, seed=i)
    sensor_dir = root / "Sensor_trimmed"
    # A timestamp without its fraction: the whole second is written as HH:MM:SS, not HH:MM:SS.000.
    gyro = sensor_dir / "gyro_clip/subject1/scene1/session1/walking.csv"
    rows = gyro.read_text().splitlines()
    whole = next(i for i, row in enumerate(rows) if row.split(",", 1)[0].endswith(".000"))
    rows[whole] = rows[whole].replace(".000,", ",", 1)
    gyro.write_text("\n".join(rows) + "\n")
    # Rows out of order, and duplicated.
    acc = sensor_dir / "acc_phone_clip/subject2/scene1/session1/walking.csv"
    rows = acc.read_text().splitlines()
    rows[10], rows[11] = rows[11], rows[10]
    rows.insert(20, rows[20])
    rows.insert(40, rows[40])
    acc.write_text("\n".join(rows) + "\n")
    return {
        "no_fraction": [str(gyro)],
        "unordered_and_duplicates": [str(acc)],
        "capitalised": ["subject1/scene1/session1/Carrying_light"],
    }
