"""Generated MMAct trees in the trimmed release's layout.

`Video_trimmed/subjectS/camC/sceneN/sessionK/<action>.mp4` and
`Sensor_trimmed/<sensor>_clip/subjectS/sceneN/sessionK/<action>.csv` (no camera level for sensors):
tiny trees with every quirk the loader handles (`make_mmact_tree`, for the data tests), and trees of
1080p H.264 clips (`make_mmact_video_tree`, for the prepare benchmark).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harlit.bench.generated.videos import write_h264_video, write_video

SENSOR_FOLDERS = {
    "acc_phone": "acc_phone_clip",
    "acc_watch": "acc_watch_clip",
    "gyro": "gyro_clip",
    "orientation": "orientation_clip",
}
SENSOR_RATES = {"acc_phone": 100.0, "acc_watch": 100.0, "gyro": 50.0, "orientation": 50.0}
ACTIONS = ("walking", "carrying_light", "talking_on_phone", "standing", "jumping", "kicking")


def video_path(root: Path, subject: int, cam: int, scene: int, session: int, stem: str) -> Path:
    """Where the trimmed release keeps one camera's video of one action."""
    return (
        root
        / "Video_trimmed"
        / f"subject{subject}"
        / f"cam{cam}"
        / f"scene{scene}"
        / f"session{session}"
        / f"{stem}.mp4"
    )


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
        path = video_path(root, subject, cam, scene, session, stem)
        write_video(path, frames, 48, 27, seed=seed + cam, fps=30)
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


def make_mmact_video_tree(
    root: Path, clips: int, frames: int, width: int = 1920, height: int = 1080
) -> list[Path]:
    """The trimmed release's video layout with `clips` H.264 clips (High profile, B-frames, ~3.3 Mbit/s)
    spread over 3 subjects, 4 cameras, 4 scenes and 2 sessions; no sensors."""
    paths = []
    for i in range(clips):
        subject, cam, scene, session = 1 + i % 3, 1 + i % 4, 1 + i % 4, 1 + i % 2
        path = video_path(root, subject, cam, scene, session, ACTIONS[i % len(ACTIONS)])
        paths.append(write_h264_video(path, frames, width, height, seed=i))
    return paths
