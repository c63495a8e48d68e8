"""MMAct's sensor CSVs: parsing one file, and fusing the four sensors of a recording onto one timeline.

Sensor CSVs have no header: ``YYYYMMDD_HH:MM:SS.fff,x,y,z`` (orientation: azimuth, pitch, roll);
accelerometers at 100 Hz (m/s^2), gyroscope and orientation at about 50 Hz. Rows out of order are sorted,
duplicated timestamps keep their first row (both counted), and a file that cannot be used raises
`BadFile` with the reason.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from harlit.data.files import BadFile

SENSORS = ("acc_phone", "acc_watch", "gyro", "orientation")  # channel order: 3 each, 12 in all


def sensor_named(name: str) -> str | None:
    """The sensor a file or folder name stands for: `gyro`, `gyro_clip`, `acc_phone.csv`...; else None."""
    lowered = name.lower()
    for sensor in SENSORS:
        if lowered == sensor or lowered.startswith(sensor + "_") or lowered == sensor + ".csv":
            return sensor
    return None


_DAY_CACHE: dict[str, int] = {}
_EPOCH = datetime.date(2000, 1, 1).toordinal()  # a recent epoch keeps float64 seconds precise to < 1 us


def parse_timestamp(text: str) -> float:
    """`YYYYMMDD_HH:MM:SS(.fff)` -> seconds since 2000-01-01 (the fraction is optional)."""
    date, clock = text.strip().split("_", 1)
    day = _DAY_CACHE.get(date)
    if day is None:
        day = _DAY_CACHE[date] = (
            datetime.date(int(date[:4]), int(date[4:6]), int(date[6:8])).toordinal() - _EPOCH
        )
    hours, minutes, seconds = clock.split(":")
    return day * 86400.0 + int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds)


def read_sensor_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(times in s, values (n, 3), quirk counts) of one header-less sensor CSV, sorted and de-duplicated."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise BadFile(path, f"unreadable CSV: {type(err).__name__}") from None
    if not text.strip():
        raise BadFile(path, f"empty CSV: {path.stat().st_size} bytes, no rows")
    times, values = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            times.append(parse_timestamp(fields[0]))
            values.append([float(v) for v in fields[1:4]])
        except (ValueError, IndexError):
            raise BadFile(
                path, f"unreadable CSV: line {number} is not 'YYYYMMDD_HH:MM:SS.fff,x,y,z': {line[:50]!r}"
            ) from None
        if len(values[-1]) != 3:
            raise BadFile(path, f"unreadable CSV: line {number} has {len(values[-1])} values, expected 3")
    t, v = np.asarray(times), np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).all():
        raise BadFile(path, f"NaN values: {int((~np.isfinite(v)).sum())} non-finite entries")
    quirks = {"unordered_rows": int((np.diff(t) < 0).sum())}
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    t, first = np.unique(t, return_index=True)  # equal timestamps: keep the first row
    quirks["duplicate_rows"] = len(order) - len(first)
    v = v[first]
    if len(t) < 2:
        raise BadFile(path, f"IMU recording too short: {len(t)} distinct timestamps")
    return t, v, quirks


def fuse_sensors(
    recordings: dict[str, tuple[np.ndarray, np.ndarray]], rate_hz: float, path: str
) -> np.ndarray:
    """Resample the four sensors onto one timeline at `rate_hz` over the interval all of them cover -> (T, 12)."""
    start = max(t[0] for t, _ in recordings.values())
    end = min(t[-1] for t, _ in recordings.values())
    if end - start <= 0:
        raise BadFile(path, "sensors do not overlap in time: their timestamps share no interval")
    count = max(2, int(np.floor((end - start) * rate_hz)) + 1)
    grid = start + np.arange(count) / rate_hz
    columns = [
        np.interp(grid, t, v[:, c]) for sensor in SENSORS for t, v in [recordings[sensor]] for c in range(3)
    ]
    return np.stack(columns, axis=1)
