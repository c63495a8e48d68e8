"""Generated UTD-MHAD trees in the real formats (`Inertial/aA_sS_tT_inertial.mat`, `RGB/aA_sS_tT_color.avi`).

Tiny trees for the data tests (`make_utd_tree`), and the full training split for the training benchmark
(`TreeSpec`, `build_utd_tree`).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.io

from harlit.bench.generated.videos import write_textured_video, write_video
from harlit.data.utd_mhad import ABSENT_FROM_DATASET, CLASS_NAMES, NUM_TRIALS

log = logging.getLogger(__name__)

TRAIN_SUBJECTS = (1, 3, 5, 7)  # UTD-MHAD's training subjects
TEST_SAMPLE = (1, 2, 1)  # (action, subject, trial): the split needs a test sample; fit never reads it


def utd_signal(
    action: int, subject: int, trial: int, length: int | None = None, longest: int = 159
) -> np.ndarray:
    """A (time, 6) inertial recording whose dominant axis and frequency depend on the action; without a
    `length`, 107 to `longest` samples (UTD's recordings: 107-326 at 50 Hz)."""
    rng = np.random.default_rng([action, subject, trial])
    length = length or int(rng.integers(107, longest + 1))
    t = np.linspace(0, 1, length)
    signal = rng.normal(0, 0.05, size=(length, 6))
    signal[:, action % 6] += np.sin(2 * np.pi * (1 + action % 4) * t)
    signal[:, 2] += 1.0  # gravity
    signal[:, 3:] *= 100.0
    return signal


def write_utd_sample(
    root: Path,
    action: int,
    subject: int,
    trial: int,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    rgb_folder: str = "RGB",
    with_video: bool = True,
    textured: bool = False,
    longest: int = 159,
) -> str:
    """One sample: its inertial .mat and (unless `with_video` is false) its .avi of `size` (width, height),
    flat colour or `textured` (see harlit.bench.generated.videos). Returns the sample id."""
    sample = f"a{action}_s{subject}_t{trial}"
    inertial = root / "Inertial" / f"{sample}_inertial.mat"
    inertial.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(inertial, {"d_iner": utd_signal(action, subject, trial, longest=longest)})
    if with_video:
        write = write_textured_video if textured else write_video
        seed = action * 100 + subject * 10 + trial
        write(root / rgb_folder / f"{sample}_color.avi", frames, size[0], size[1], seed=seed)
    return sample


def make_utd_tree(
    root: Path,
    actions: Iterable[int] = (1, 2, 3),
    subjects: Iterable[int] = (1, 2),
    trials: Iterable[int] = (1, 2),
    frames: int = 12,
    rgb_parts: bool = False,
    with_video: bool = True,
    size: tuple[int, int] = (64, 48),
) -> list[str]:
    """Inertial/*.mat and RGB/*.avi (or RGB-part1..2 with files at their roots); returns the sample ids."""
    return [
        write_utd_sample(
            root, a, s, t, frames, size, f"RGB-part{1 + (a % 2)}" if rgb_parts else "RGB", with_video
        )
        for a in actions
        for s in subjects
        for t in trials
    ]


@dataclass(frozen=True)
class TreeSpec:
    """A UTD-MHAD-shaped tree: `actions` x the 4 training subjects x `trials`, less the ids the real
    dataset lacks, plus one test sample. The defaults give the real training split: 431 samples."""

    actions: int = len(CLASS_NAMES)
    trials: int = NUM_TRIALS
    frames: int = 20
    width: int = 640  # UTD-MHAD's frame size
    height: int = 480

    def sample_ids(self) -> list[tuple[int, int, int]]:
        ids = [
            (a, s, t)
            for a in range(1, self.actions + 1)
            for s in TRAIN_SUBJECTS
            for t in range(1, self.trials + 1)
            if f"a{a}_s{s}_t{t}" not in ABSENT_FROM_DATASET
        ]
        return [*ids, TEST_SAMPLE]

    @property
    def train_samples(self) -> int:
        return len(self.sample_ids()) - 1

    def folder_name(self) -> str:
        return f"utd_{self.actions}a{self.trials}t_{self.frames}f_{self.width}x{self.height}"


def _write_spec_sample(root: str, action: int, subject: int, trial: int, spec: TreeSpec) -> None:
    # Textured clips and UTD's full range of recording lengths: the training benchmark's load.
    size = (spec.width, spec.height)
    write_utd_sample(Path(root), action, subject, trial, spec.frames, size, textured=True, longest=326)


def build_utd_tree(root: Path, spec: TreeSpec, workers: int | None = None) -> Path:
    """Generate the tree under `root` once (a `tree.json` marker says it is complete); returns its folder."""
    folder = root / spec.folder_name()
    marker = folder / "tree.json"
    record = {**asdict(spec), "samples": len(spec.sample_ids()), "train_samples": spec.train_samples}
    if marker.is_file() and json.loads(marker.read_text()) == record:
        return folder
    for sub in ("Inertial", "RGB"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    ids = spec.sample_ids()
    workers = max(1, min(workers or os.cpu_count() or 1, len(ids)))
    start = time.perf_counter()
    if workers == 1:
        for a, s, t in ids:
            _write_spec_sample(str(folder), a, s, t, spec)
    else:
        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for future in [pool.submit(_write_spec_sample, str(folder), a, s, t, spec) for a, s, t in ids]:
                future.result()
    marker.write_text(json.dumps(record, indent=2))
    log.info(
        "bench: generated %d UTD-MHAD samples in %s (%.0f s)", len(ids), folder, time.perf_counter() - start
    )
    return folder
