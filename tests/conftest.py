"""Shared fixtures: compose the real Hydra config, shrunk to run in seconds on a CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from omegaconf import DictConfig

from harlit.config import compose_config
from harlit.startup import configure

configure()  # the warning and logging filters every entry point installs

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tiny synthetic data: 2 subjects (1 train, 1 test) x 12 classes x 1 repetition, 8x32x32 clips.
TINY_SOURCE = ("data.num_subjects=2", "data.repetitions=1")  # shared: reaches stage 1 from stage 2
TINY_INPUTS = ("data.num_frames=8", "data.frame_size=32", "data.imu_length=64")  # an encoder's own
TINY_RECIPE = ("data.batch_size=12", "trainer.max_epochs=1")  # each stage's own
QUIET = ("trainer.enable_progress_bar=false", "logger=none")
TINY = (*TINY_SOURCE, *TINY_INPUTS, *TINY_RECIPE, *QUIET)


def stage1_overrides(modality: str, overrides: Sequence[str]) -> str:
    """`stage1_overrides.<modality>=[...]` as a command line gives it."""
    return f"stage1_overrides.{modality}=[" + ",".join(f'"{o}"' for o in overrides) + "]"


def stage1_both(settings: Sequence[str], video: Sequence[str] = ()) -> list[str]:
    """stage1_overrides for both stage-1 runs of a stage-2 command: `settings` for each, `video` for video."""
    return [stage1_overrides("imu", settings), stage1_overrides("video", [*settings, *video])]


def tiny_stage2(stage1: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """A stage-2 command line's tiny settings: the tiny data source and recipe on stage 2, and TINY (plus
    `stage1[modality]`) for its stage-1 runs through stage1_overrides, as a user would give them."""
    per_stage1 = [
        stage1_overrides(m, [*TINY_INPUTS, *TINY_RECIPE, *QUIET, *(stage1 or {}).get(m, ())])
        for m in ("imu", "video")
    ]
    return [*TINY_SOURCE, *TINY_RECIPE, *QUIET, *per_stage1]


@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No test touches the network or the user's W&B/torch-hub state.
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("HARLIT_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose `conf/config.yaml` with overrides, outputs under tmp_path, tiny synthetic sizes."""

    def _make(
        overrides: Sequence[str] = (),
        run: str = "run",
        tiny: bool = True,
        stage1: Mapping[str, Sequence[str]] | None = None,
    ) -> DictConfig:
        """`tiny`: a stage-1 config gets TINY; a stage-2 config gets the tiny data source and recipe, and
        its stage-1 runs get TINY through stage1_overrides (plus `stage1[modality]`), as a user would."""
        paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / run}"]
        if not tiny:
            return compose_config([*overrides, *paths])
        cfg = compose_config([*TINY, *overrides, *paths])
        if cfg.model.modality != "fusion":
            return cfg
        return compose_config([*tiny_stage2(stage1), *overrides, *paths])

    return _make


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HARLIT_ROOT": str(tmp_path), "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"})
    return env


HELPERS = REPO_ROOT / "tests" / "helpers"


def run_harlit(
    args: Sequence[str],
    root: Path,
    extra_env: dict[str, str] | None = None,
    timeout: int = 600,
    helpers: bool = False,
    module: str = "harlit.run",
) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` (harlit.run by default) as a user runs it; `helpers` puts tests/helpers on
    its PYTHONPATH."""
    env = subprocess_env(root)
    if helpers:
        env["PYTHONPATH"] = os.pathsep.join([str(HELPERS), env.get("PYTHONPATH", "")])
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
