"""Checkpoints that survive preemption: atomic writes, RNG state, a save on SIGTERM/SIGUSR1, and resume.

* `AtomicCheckpointIO` writes every Lightning checkpoint to a temp file beside the target, fsyncs and
  renames it over the target, so a process killed mid-write leaves the previous checkpoint intact.
* `PreemptionCheckpoint` (a callback, on by default) stores the Python, NumPy and torch (CPU and CUDA)
  RNG states in each checkpoint and restores them on resume. The training loader stores its place in
  the epoch beside them (`harlit.data.sampling.ResumableLoader`, through Lightning's fit loop), and no
  loader draws from these RNGs, so a run resumed mid-epoch trains on the very batches, with the very
  dropout and augmentation draws, of an uninterrupted one: the same weights and test metrics, bit for
  bit on the CPU (tests/test_resume.py), with or without loader workers. Not restored: the training
  metrics accumulated over the stopped epoch before the stop (its logged train/* values count only the
  batches after the resume), and under DDP every rank restores the RNG states rank 0 saved. On
  SIGTERM (and SIGUSR1 where Lightning's SLURM auto-requeue does not own it) Lightning stops at the
  next step and this callback saves `checkpoints/preempted.ckpt`.
* `resume_checkpoint(cfg, run_dir)` picks what `trainer.fit` continues from: `resume=true` takes the
  newest checkpoint in the run's own directory (an error if there is none), `resume=auto` takes it if
  there is one, and a requeued SLURM job (SLURM_RESTART_COUNT > 0) behaves as `auto`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from harlit.errors import HarlitError
from harlit.io import atomic_write_bytes

log = logging.getLogger(__name__)

PREEMPTED_NAME = "preempted.ckpt"
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, as a shell reports a process ended by SIGTERM


@contextlib.contextmanager
def exit_when_preempted() -> Iterator[None]:
    """Lightning leaves on SIGTERM with a bare SystemExit (exit status 0); make it a failure status, so
    neither a scheduler nor a sweep takes a stopped run for a finished one."""
    try:
        yield
    except SIGTERMException:
        log.warning("Stopped by a signal before the end of training; continue with resume=true.")
        raise SystemExit(PREEMPTED_EXIT_CODE) from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose local writes are temp-file + fsync + rename."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path):
            return super().save_checkpoint(
                checkpoint, path, storage_options
            )  # remote filesystems: fsspec's way
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        atomic_write_bytes(Path(path), lambda handle: torch.save(checkpoint, handle))


def _numpy_state_to_plain(state: tuple) -> list[Any]:
    kind, keys, pos, has_gauss, cached = state
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        # Plain lists and tensors: Lightning loads checkpoints with torch.load(weights_only=True).
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class PreemptionCheckpoint(pl.Callback):
    """RNG state in every checkpoint, and a checkpoint when the cluster asks the run to stop."""

    def __init__(self, dirpath: str, on_sigusr1: bool = True) -> None:
        self.dirpath = Path(dirpath)
        self.on_sigusr1 = on_sigusr1
        self._previous_sigusr1: Any = None

    @property
    def state_key(self) -> str:
        return "PreemptionCheckpoint"

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "rng" in state_dict:
            set_rng_state(state_dict["rng"])

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Hydra hands lists to the module as ListConfig; plain containers keep the checkpoint loadable
        # with torch.load(weights_only=True), which Lightning uses to resume.
        for key in ("hyper_parameters", "datamodule_hyper_parameters"):
            if key in checkpoint:
                checkpoint[key] = _plain(checkpoint[key])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        environment = trainer._accelerator_connector.cluster_environment
        if isinstance(environment, SLURMEnvironment) and environment.auto_requeue:
            return  # Lightning's SLURM handler saves an hpc checkpoint and requeues on SIGUSR1
        if not self.on_sigusr1:
            return

        def as_sigterm(signum: int, frame: Any) -> None:
            # The same path as SIGTERM: Lightning stops every rank at the same step.
            trainer._signal_connector._sigterm_notifier_fn(signum, frame)

        try:
            self._previous_sigusr1 = signal.signal(signal.SIGUSR1, as_sigterm)
        except ValueError:  # not the main thread
            self._previous_sigusr1 = None

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous_sigusr1 is not None:
            signal.signal(signal.SIGUSR1, self._previous_sigusr1)
            self._previous_sigusr1 = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # SIGTERMException is raised on every rank at the same step, so the collective save cannot hang.
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        path = self.dirpath / PREEMPTED_NAME
        trainer.save_checkpoint(path)
        log.warning(
            "Stopped by a signal at epoch %d, step %d; saved %s (resume with resume=true).",
            trainer.current_epoch,
            trainer.global_step,
            path,
        )


def _plain(value: Any) -> Any:
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, dict):
        return type(value)((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def find_resume_checkpoint(run_dir: Path) -> Path | None:
    """The newest whole checkpoint of a run: epoch, last, preempted or Lightning's hpc checkpoints."""
    candidates = [*(run_dir / "checkpoints").glob("*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")]
    candidates = [p for p in candidates if p.is_file() and p.stat().st_size > 0]
    if not candidates:
        return None
    # Newest first; among equals (epoch_N and last.ckpt of one save) prefer last.ckpt.
    return max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name == "last.ckpt"))


def resume_mode(cfg: DictConfig) -> str:
    value = cfg.get("resume", False)
    if value in (True, "true", "True"):
        return "true"
    if value in (None, False, "false", "False"):
        requeued = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0
        return "auto" if requeued else "false"
    if value == "auto":
        return "auto"
    raise HarlitError(
        f"resume must be true, false or auto, not {value!r}; to resume a run, give "
        "resume=true hydra.run.dir=<its run directory>."
    )


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint `trainer.fit` continues from (None: start fresh)."""
    mode = resume_mode(cfg)
    explicit = cfg.get("ckpt_path")
    if mode == "false":
        return explicit
    if explicit and mode == "true":
        raise HarlitError(
            "set either resume=true or ckpt_path, not both; resume=true finds the run's last checkpoint itself."
        )
    found = find_resume_checkpoint(run_dir)
    if found is not None:
        log.info("Resuming from %s", found)
        return str(found)
    if mode == "true":
        raise HarlitError(
            f"resume=true but {run_dir} holds no checkpoint to resume from; give the interrupted run's directory "
            "as hydra.run.dir=<dir> (hydra.sweep.dir=<dir> for a multirun) or drop resume=true."
        )
    return explicit
