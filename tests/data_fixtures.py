"""What the data tests share beyond generated data: where the real sample files are, how a test that needs
them skips or fails, and loader sizes that keep tests fast.

The writers of generated videos and dataset trees are harlit.bench.generated, shared with the benchmarks.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
