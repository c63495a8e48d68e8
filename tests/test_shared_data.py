"""Tests that need the real files: they skip with a reason on a machine without them, and fail in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import data_fixtures
from tests.data_fixtures import REPO_ROOT, requires_shared_data, shared_data_dir


def test_missing_real_files_fail_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "Inertial"
    for value in ("true", "True", "1"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception) as err:
            requires_shared_data(missing, "the real UTD-MHAD inertial files")
        assert str(err.value) == (
            f"the real UTD-MHAD inertial files not found at {missing} (set HARLIT_SHARED_DATA, or put the "
            "shared data in ../shared/data beside the repository); CI=true, where they must be present, so "
            "this test fails instead of skipping."
        )


def test_missing_real_files_skip_with_a_reason_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "carrying.mp4"
    for value in (None, "", "false", "0"):
        if value is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.skip.Exception) as err:
            requires_shared_data(missing, "the real MMAct sample clip")
        assert str(err.value).startswith(
            f"the real MMAct sample clip not found at {missing} (set HARLIT_SHARED_DATA"
        )


def test_present_real_files_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "Inertial").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"x")
    for value in ("true", ""):
        monkeypatch.setenv("CI", value)
        assert requires_shared_data(tmp_path / "Inertial", "a folder") is None
        assert requires_shared_data(tmp_path / "clip.mp4", "a file") is None


def test_shared_data_is_found_relative_to_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HARLIT_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.delenv("HARLIT_SHARED_DATA")
    assert shared_data_dir() == REPO_ROOT.parent / "shared" / "data"  # whether or not it exists
    # No absolute fallback: a checkout elsewhere must not quietly read (or miss) this machine's files.
    assert "/work/" not in Path(data_fixtures.__file__).read_text()
