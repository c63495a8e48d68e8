"""MMAct (trimmed release): RGB video from four cameras and four body-worn sensors, 20 subjects, 4 scenes.

Layout of the trimmed release (other releases nest differently, so subject/cam/scene/session are read
from folder-name prefixes anywhere in the path, never from fixed depths)::

    Video_trimmed/subjectS/camC/sceneN/sessionK/<action>.mp4            1920x1080 H.264, 29.97 fps
    Sensor_trimmed/{acc_phone_clip,acc_watch_clip,gyro_clip,orientation_clip}/subjectS/sceneN/sessionK/<action>.csv

Sensors have no camera level: one recording serves the four views, so a video or fusion sample is one
video plus the sensor recordings of its (subject, scene, session, action). An IMU-only run never looks at
the videos: its sample is one set of sensor recordings, each seen once, whether or not videos exist.

Hence the `cross_view` protocol (split by camera) cannot hold IMU data out: every sensor recording of a
test view also belongs to the training views. IMU-only runs refuse it; a fusion run under it records
`imu_test_recordings_seen_in_training: true` in its metrics.json, and the report marks its rows.

Sensor CSVs have no header: ``YYYYMMDD_HH:MM:SS.fff,x,y,z`` (orientation: azimuth, pitch, roll);
accelerometers at 100 Hz (m/s^2), gyroscope and orientation at about 50 Hz. Handled quirks: timestamps
without a fraction, rows out of order or duplicated (sorted, first of equal timestamps kept, counted),
0-byte files and a sensor missing for a clip (bad samples), capitalised stems (`Carrying_light`) and
different lengths per sensor: the four sensors are resampled onto one timeline at `sensor_rate` Hz over
the interval they all cover, giving 12 channels, then onto `imu_length` samples of normalised time.

Classes: 37 by default. In scene 3 (the desk scene) `talking_on_phone` and `using_phone` are the classes
`talking_on_phone_desk` and `using_phone_desk`; `classes: 35` keeps the file-name classes.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harlit.constants import IMU_SEEN_KEY
from harlit.data.base import BadSample, SampleTable
from harlit.data.files import FileDataModule, SampleFiles
from harlit.data.mmact_sensors import SENSORS, fuse_sensors, read_sensor_csv, sensor_named
from harlit.errors import HarlitError

log = logging.getLogger(__name__)

CLASS_NAMES_35 = [
    "standing",
    "crouching",
    "walking",
    "running",
    "checking_time",
    "waving_hand",
    "using_phone",
    "talking_on_phone",
    "kicking",
    "pointing",
    "throwing",
    "jumping",
    "exiting",
    "entering",
    "setting_down",
    "talking",
    "opening",
    "closing",
    "carrying",
    "loitering",
    "transferring_object",
    "looking_around",
    "pushing",
    "pulling",
    "picking_up",
    "fall",
    "carrying_light",
    "carrying_heavy",
    "sitting_down",
    "using_pc",
    "drinking",
    "pocket_out",
    "pocket_in",
    "sitting",
    "standing_up",
]
DESK_SCENE = 3
DESK_VARIANTS = {"talking_on_phone": "talking_on_phone_desk", "using_phone": "using_phone_desk"}
CLASS_NAMES_37 = CLASS_NAMES_35 + list(DESK_VARIANTS.values())
PROTOCOLS = ("cross_subject", "cross_view", "cross_scene", "cross_session")
PROTOCOL_GROUP = {"cross_view": "cam", "cross_scene": "scene", "cross_session": "session"}  # test_<group>s
CROSS_VIEW_IMU_ERROR = (
    "an IMU-only MMAct run cannot use data.protocol=cross_view: the sensor recordings have no camera, so "
    "every test recording is also a training recording; use data.protocol=cross_subject, cross_scene or "
    "cross_session (a cross_view fusion run takes its IMU encoder from one of those through model.imu_ckpt)."
)
GROUP_PATTERN = re.compile(r"^(subject|cam|scene|session)[_-]?(\d+)$", re.IGNORECASE)
LAYOUT = (
    "Video_trimmed/subjectS/camC/sceneN/sessionK/<action>.mp4 and/or "
    "Sensor_trimmed/{acc_phone_clip,acc_watch_clip,gyro_clip,orientation_clip}/subjectS/sceneN/sessionK/<action>.csv"
)


def path_groups(path: Path, root: Path) -> dict[str, int]:
    """subject/cam/scene/session numbers from folder-name prefixes anywhere below `root`."""
    groups: dict[str, int] = {}
    for part in path.relative_to(root).parts[:-1]:
        match = GROUP_PATTERN.match(part)
        if match:
            groups[match.group(1).lower()] = int(match.group(2))
    return groups


def sensor_of(path: Path, root: Path) -> str | None:
    """Which of the four sensors a CSV belongs to, from a folder named after it (`gyro_clip`, `acc_phone`...)."""
    for part in path.relative_to(root).parts[:-1]:
        sensor = sensor_named(part)
        if sensor is not None:
            return sensor
    return None


class MMActDataModule(FileDataModule):
    """MMAct trimmed clips; see the module docstring for layout, quirks, classes and protocols."""

    name = "mmact"
    layout_help = LAYOUT

    def __init__(
        self,
        root: str,
        protocol: str = "cross_subject",
        classes: int = 37,
        sensor_rate: float = 50.0,
        train_subjects: Sequence[int] = tuple(range(1, 17)),
        test_subjects: Sequence[int] = (17, 18, 19, 20),
        test_cams: Sequence[int] = (4,),
        test_scenes: Sequence[int] = (2,),
        test_sessions: Sequence[int] = (5,),
        **kwargs: Any,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise HarlitError(f"data.protocol must be one of {list(PROTOCOLS)}, not {protocol!r}.")
        modalities = tuple(kwargs.get("modalities", ("imu", "video")))
        if protocol == "cross_view" and "imu" in modalities and "video" not in modalities:
            raise HarlitError(CROSS_VIEW_IMU_ERROR)
        if int(classes) not in (35, 37):
            raise HarlitError(
                f"data.classes must be 37 (desk variants split out) or 35 (file-name classes), not {classes}."
            )
        self.protocol = protocol
        self.classes = int(classes)
        self.sensor_rate = float(sensor_rate)
        self.imu_rate_hz = self.sensor_rate  # the four sensors are fused onto one timeline at this rate
        self.train_subjects = [int(s) for s in train_subjects]
        self.test_subjects = [int(s) for s in test_subjects]
        self.test_groups = {
            "cam": [int(c) for c in test_cams],
            "scene": [int(s) for s in test_scenes],
            "session": [int(s) for s in test_sessions],
        }
        super().__init__(root=root, **kwargs)
        self.sensor_quirks: Counter[str] = Counter()
        self._sensor_cache: dict[str, tuple[np.ndarray, np.ndarray, dict[str, int]]] = {}

    @property
    def class_names(self) -> list[str]:
        return list(CLASS_NAMES_37 if self.classes == 37 else CLASS_NAMES_35)

    def label_of(self, action: str, scene: int) -> int | None:
        if self.classes == 37 and scene == DESK_SCENE and action in DESK_VARIANTS:
            action = DESK_VARIANTS[action]
        names = self.class_names
        return names.index(action) if action in names else None

    def discover(self) -> tuple[list[SampleFiles], list[BadSample]]:
        bad: list[BadSample] = []
        sensors: dict[tuple[int, int, int, str], dict[str, Path]] = {}
        for path in sorted(self.root.rglob("*")):
            if path.suffix.lower() != ".csv" or not path.is_file():
                continue
            sensor, groups = sensor_of(path, self.root), path_groups(path, self.root)
            if sensor is None:
                continue
            missing = [g for g in ("subject", "scene", "session") if g not in groups]
            if missing:
                bad.append(
                    BadSample(str(path), str(path), f"bad path: no {'/'.join(missing)} folder above it")
                )
                continue
            key = (groups["subject"], groups["scene"], groups["session"], path.stem.lower())
            slot = sensors.setdefault(key, {})
            if sensor in slot:
                bad.append(BadSample(str(path), str(path), f"duplicate file: also at {slot[sensor]}"))
                continue
            slot[sensor] = path
        videos: list[tuple[dict[str, int], Path]] = []
        # An IMU-only run ignores the videos: one sample per sensor recording, not one per camera.
        video_paths = sorted(self.root.rglob("*")) if "video" in self.modalities else []
        for path in video_paths:
            if path.suffix.lower() not in (".mp4", ".avi", ".mkv") or not path.is_file():
                continue
            groups = path_groups(path, self.root)
            missing = [g for g in ("subject", "cam", "scene", "session") if g not in groups]
            if missing:
                bad.append(
                    BadSample(str(path), str(path), f"bad path: no {'/'.join(missing)} folder above it")
                )
                continue
            videos.append((groups, path))
        if "video" in self.modalities and not videos:
            raise self.no_data_error("videos (.mp4)")
        if "imu" in self.modalities and not sensors:
            raise self.no_data_error("sensor CSVs")

        samples: list[SampleFiles] = []
        used_sensor_keys: set[tuple[int, int, int, str]] = set()
        if videos:
            for groups, path in videos:
                action = path.stem.lower()  # capitalised stems (Carrying_light) name the same class
                key = (groups["subject"], groups["scene"], groups["session"], action)
                sample_id = (
                    f"subject{groups['subject']}_cam{groups['cam']}_scene{groups['scene']}"
                    f"_session{groups['session']}_{action}"
                )
                used_sensor_keys.add(key)
                sample = self._sample(sample_id, action, groups, sensors.get(key, {}), path, bad)
                if sample is not None:
                    samples.append(sample)
        else:  # an IMU-only run: one sample per sensor recording
            for key, slot in sorted(sensors.items()):
                subject, scene, session, action = key
                groups = {"subject": subject, "scene": scene, "session": session}
                sample = self._sample(
                    f"subject{subject}_scene{scene}_session{session}_{action}",
                    action,
                    groups,
                    slot,
                    None,
                    bad,
                )
                if sample is not None:
                    samples.append(sample)
        if "video" in self.modalities and "imu" in self.modalities:
            for key in sorted(set(sensors) - used_sensor_keys):
                subject, scene, session, action = key
                bad.append(
                    BadSample(
                        f"subject{subject}_scene{scene}_session{session}_{action}",
                        str(next(iter(sensors[key].values()))),
                        "missing modality: no video for these sensor CSVs",
                    )
                )
        return samples, bad

    def _sample(
        self,
        sample_id: str,
        action: str,
        groups: dict[str, int],
        slot: dict[str, Path],
        video: Path | None,
        bad: list[BadSample],
    ) -> SampleFiles | None:
        where = str(video or next(iter(slot.values())))
        label = self.label_of(action, groups["scene"])
        if label is None:
            bad.append(
                BadSample(
                    sample_id,
                    where,
                    f"unknown action: {action!r} is not one of the {self.classes} MMAct classes",
                )
            )
            return None
        if "imu" in self.modalities:
            missing = [s for s in SENSORS if s not in slot]
            if missing:
                bad.append(
                    BadSample(sample_id, where, f"missing modality: no {', '.join(missing)} sensor CSV")
                )
                return None
        # One sensor recording: the unit that the IMU-only row and the four camera rows share.
        unit = f"subject{groups['subject']}_scene{groups['scene']}_session{groups['session']}_{action}"
        return SampleFiles(
            sample_id, label, groups["subject"], video=video, imu=dict(slot), groups=dict(groups), unit=unit
        )

    def _sensor(self, path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        key = str(path)
        if key not in self._sensor_cache:  # four views share one recording: parse it once
            self._sensor_cache[key] = read_sensor_csv(path)
            self.sensor_quirks.update(self._sensor_cache[key][2])
        return self._sensor_cache[key]

    def load_imu(self, sample: SampleFiles) -> np.ndarray:
        recordings = {}
        for sensor in SENSORS:
            times, values, _ = self._sensor(sample.imu[sensor])
            recordings[sensor] = (times, values)
        return fuse_sensors(recordings, self.sensor_rate, str(sample.imu[SENSORS[0]].parent))

    def build_table(self, test_only: bool = False) -> SampleTable:
        table = super().build_table(test_only)
        self._sensor_cache.clear()
        if self.sensor_quirks["unordered_rows"] or self.sensor_quirks["duplicate_rows"]:
            log.info(
                "mmact: sensor CSVs had %d out-of-order rows (sorted) and %d duplicate timestamps (first kept)",
                self.sensor_quirks["unordered_rows"],
                self.sensor_quirks["duplicate_rows"],
            )
        if self.sensor_quirks["duplicate_rows"]:
            self.dropped["sensor_duplicate_rows"] = self.sensor_quirks["duplicate_rows"]
        return table

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "protocol": self.protocol,
            "classes": self.classes,
            "sensor_unordered_rows": self.sensor_quirks["unordered_rows"],
            # cross_view splits by camera, and one sensor recording serves every camera.
            IMU_SEEN_KEY: self.protocol == "cross_view" and "imu" in self.modalities,
        }

    def split(self, table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
        if self.protocol == "cross_subject":
            train = np.isin(table.subjects, self.train_subjects)
            test = np.isin(table.subjects, self.test_subjects)
        else:
            group = PROTOCOL_GROUP[self.protocol]
            values = table.groups.get(group)
            if values is None or (values < 0).all():
                raise HarlitError(
                    f"the {self.protocol} protocol needs {group} folders, and the samples under {self.root} have none; "
                    "use data.protocol=cross_subject."
                )
            test = np.isin(values, self.test_groups[group])
            train = ~test
        return np.flatnonzero(train), np.flatnonzero(test)

    def split_setting(self) -> dict[str, Any]:
        # The protocol and class count are in describe(); here what each protocol splits by.
        if self.protocol == "cross_subject":
            return {
                "train_subjects": sorted(self.train_subjects),
                **super().split_setting(),
                "test_subjects": sorted(self.test_subjects),
            }
        group = PROTOCOL_GROUP[self.protocol]
        return {**super().split_setting(), f"test_{group}s": sorted(self.test_groups[group])}

    def split_keys(self, table: SampleTable) -> list[str]:
        if self.protocol == "cross_subject":
            keys = [f"data.train_subjects={self.train_subjects}", f"data.test_subjects={self.test_subjects}"]
        else:
            group = PROTOCOL_GROUP[self.protocol]
            found = sorted(set(table.groups[group].tolist()) - {-1})
            keys = [f"data.test_{group}s={self.test_groups[group]} (the samples have {group}s {found})"]
        return [*keys, f"data.protocol={self.protocol}"]
