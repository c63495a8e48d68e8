"""UTD-MHAD: 27 actions x 8 subjects x 4 trials, RGB video (Kinect, 640x480) and a wrist inertial sensor.

Files are found recursively, so both the official `RGB/` + `Inertial/` folders and mirrors that split
RGB into `RGB-part1..4` work:

* ``a{A}_s{S}_t{T}_inertial.mat``: variable ``d_iner``, float64 (time, 6): accelerometer xyz in g,
  gyroscope xyz in deg/s, 50 Hz, 107-326 samples.
* ``a{A}_s{S}_t{T}_color.avi``: the same interval as the inertial stream at an effective ~15 fps.

The two streams are aligned on normalised time (IMU resampled to `imu_length`, frames picked at the
centres of `num_frames` equal segments); no frame rate is assumed. 861 of the 864 ids exist:
`a8_s1_t4`, `a23_s6_t4` and `a27_s8_t4` are missing from the dataset itself and are reported as absent.
Protocol: subjects 1, 3, 5, 7 train (431 samples), 2, 4, 6, 8 test (430).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from harlit.data.base import BadSample, SampleTable
from harlit.data.files import BadFile, FileDataModule, SampleFiles, check_imu
from harlit.errors import HarlitError

log = logging.getLogger(__name__)

CLASS_NAMES = [
    "swipe_left",
    "swipe_right",
    "wave",
    "clap",
    "throw",
    "arm_cross",
    "basketball_shoot",
    "draw_x",
    "draw_circle_CW",
    "draw_circle_CCW",
    "draw_triangle",
    "bowling",
    "boxing",
    "baseball_swing",
    "tennis_swing",
    "arm_curl",
    "tennis_serve",
    "push",
    "knock",
    "catch",
    "pickup_throw",
    "jog",
    "walk",
    "sit2stand",
    "stand2sit",
    "lunge",
    "squat",
]
NUM_SUBJECTS = 8
NUM_TRIALS = 4
ABSENT_FROM_DATASET = ("a8_s1_t4", "a23_s6_t4", "a27_s8_t4")  # removed by the dataset's authors
FILE_PATTERN = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(inertial|color)\.(mat|avi)$", re.IGNORECASE)
MODALITY_OF_KIND = {"inertial": "imu", "color": "video"}
FILE_OF_MODALITY = {"imu": "a{A}_s{S}_t{T}_inertial.mat", "video": "a{A}_s{S}_t{T}_color.avi"}
IMU_RATE_HZ = 50.0  # of every d_iner recording


def parse_name(name: str) -> tuple[int, int, int, str] | None:
    """(action, subject, trial, modality) from a UTD-MHAD file name, or None if it is not one."""
    match = FILE_PATTERN.match(name)
    if not match or (match.group(4).lower() == "inertial") != (match.group(5).lower() == "mat"):
        return None
    return (
        int(match.group(1)),
        int(match.group(2)),
        int(match.group(3)),
        MODALITY_OF_KIND[match.group(4).lower()],
    )


def read_inertial(path: str | Path) -> np.ndarray:
    """The (time, 6) `d_iner` array of one .mat file; BadFile if it is unreadable or lacks `d_iner`."""
    try:
        content = scipy.io.loadmat(str(path), variable_names=["d_iner"])
    except Exception as err:  # scipy raises ValueError, TypeError, MatReadError... on damaged files
        raise BadFile(path, f"unreadable .mat: {type(err).__name__}: {str(err)[:100]}") from None
    if "d_iner" not in content:
        raise BadFile(path, "no d_iner: the .mat file has no variable d_iner")
    values = np.asarray(content["d_iner"])
    if values.ndim != 2 or values.shape[1] != 6:
        raise BadFile(path, f"bad d_iner shape: {values.shape}, expected (time, 6)")
    return check_imu(values, path)


class UTDMHADDataModule(FileDataModule):
    """UTD-MHAD from its official files; see the module docstring for the layout and protocol."""

    name = "utd_mhad"
    imu_rate_hz = IMU_RATE_HZ
    layout_help = (
        "a{A}_s{S}_t{T}_inertial.mat files (e.g. in Inertial/) and/or a{A}_s{S}_t{T}_color.avi files "
        "(e.g. in RGB/ or RGB-part1..4/), A 1-27, S 1-8, T 1-4"
    )

    def __init__(
        self,
        root: str,
        train_subjects: Sequence[int] = (1, 3, 5, 7),
        test_subjects: Sequence[int] = (2, 4, 6, 8),
        **kwargs: Any,
    ) -> None:
        self.train_subjects = [int(s) for s in train_subjects]
        self.test_subjects = [int(s) for s in test_subjects]
        if set(self.train_subjects) & set(self.test_subjects):
            raise HarlitError(
                f"data.train_subjects {self.train_subjects} and data.test_subjects {self.test_subjects} overlap; "
                "a subject belongs to one side only."
            )
        super().__init__(root=root, **kwargs)
        leaked = set(self.val_subjects) & set(self.test_subjects)
        if leaked:
            raise HarlitError(
                f"data.val_subjects {sorted(leaked)} are test subjects; hold validation subjects out of "
                f"data.train_subjects {self.train_subjects} instead."
            )

    @property
    def class_names(self) -> list[str]:
        return list(CLASS_NAMES)

    def discover(self) -> tuple[list[SampleFiles], list[BadSample]]:
        files: dict[tuple[int, int, int], dict[str, Path]] = {}
        bad: list[BadSample] = []
        for path in sorted(p for p in self.root.rglob("a*_s*_t*_*") if p.is_file()):
            parsed = parse_name(path.name)
            if parsed is None or parsed[3] not in self.modalities:
                continue
            action, subject, trial, modality = parsed
            sample_id = f"a{action}_s{subject}_t{trial}"
            if not (
                1 <= action <= len(CLASS_NAMES) and 1 <= subject <= NUM_SUBJECTS and 1 <= trial <= NUM_TRIALS
            ):
                bad.append(
                    BadSample(sample_id, str(path), "bad file name: action 1-27, subject 1-8, trial 1-4")
                )
                continue
            slot = files.setdefault((action, subject, trial), {})
            if modality in slot:
                bad.append(BadSample(sample_id, str(path), f"duplicate file: also at {slot[modality]}"))
                continue
            slot[modality] = path
        for modality in self.modalities:
            if not any(modality in slot for slot in files.values()):
                raise self.no_data_error(f"{modality} files ({FILE_OF_MODALITY[modality]})")

        samples: list[SampleFiles] = []
        for (action, subject, trial), slot in sorted(files.items()):
            sample_id = f"a{action}_s{subject}_t{trial}"
            missing = [m for m in self.modalities if m not in slot]
            if missing:
                present = next(iter(slot.values()))
                expected = FILE_OF_MODALITY[missing[0]].format(A=action, S=subject, T=trial)
                bad.append(
                    BadSample(sample_id, str(present), f"missing modality: no {missing[0]} file {expected}")
                )
                continue
            samples.append(
                SampleFiles(sample_id, action - 1, subject, video=slot.get("video"), imu=slot.get("imu"))
            )

        found = {s.sample_id for s in samples} | {b.sample_id for b in bad}
        full = [
            f"a{a}_s{s}_t{t}"
            for a in range(1, len(CLASS_NAMES) + 1)
            for s in range(1, NUM_SUBJECTS + 1)
            for t in range(1, NUM_TRIALS + 1)
        ]
        self.absent_ids = [i for i in ABSENT_FROM_DATASET if i not in found]
        self.not_found = [i for i in full if i not in found and i not in ABSENT_FROM_DATASET]
        log.info(
            "utd_mhad: %d samples; absent from the dataset itself: %s",
            len(samples),
            ", ".join(self.absent_ids) or "none",
        )
        if self.not_found:
            log.warning(
                "utd_mhad: %d of the dataset's 861 ids are not under %s (a partial copy?)",
                len(self.not_found),
                self.root,
            )
        return samples, bad

    def load_imu(self, sample: SampleFiles) -> np.ndarray:
        return read_inertial(sample.imu)

    def split(self, table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
        return np.flatnonzero(np.isin(table.subjects, self.train_subjects)), np.flatnonzero(
            np.isin(table.subjects, self.test_subjects)
        )

    def split_setting(self) -> dict[str, Any]:
        return {
            "train_subjects": sorted(self.train_subjects),
            **super().split_setting(),
            "test_subjects": sorted(self.test_subjects),
        }

    def split_keys(self, table: SampleTable) -> list[str]:
        found = sorted(set(table.subjects.tolist()))
        return [
            f"data.train_subjects={self.train_subjects}",
            f"data.test_subjects={self.test_subjects} (the samples have subjects {found})",
        ]
