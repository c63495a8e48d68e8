"""Ranks, world size and devices, from the environment and the trainer config. A leaf: no harlit imports
but errors, so data, models and the launcher can all ask "which rank am I?" the same way."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from harlit.errors import HarlitError

GPU_ACCELERATORS = ("gpu", "cuda")
WORKER_ENV = "HARLIT_DDP_WORKER"  # set by harlit's launcher on the ranks it starts


def slurm_ntasks() -> int:
    if os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return 0  # Lightning ignores interactive allocations too
    return int(os.environ.get("SLURM_NTASKS", "0") or 0)


def global_rank() -> int:
    """This process's global rank from the environment (0 outside distributed runs)."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    if "SLURM_PROCID" in os.environ and slurm_ntasks() > 1:
        return int(os.environ["SLURM_PROCID"])
    return 0


def devices_per_node(trainer_cfg: DictConfig | dict[str, Any]) -> int:
    """How many processes `trainer.devices` asks for on each node."""
    devices = trainer_cfg.get("devices", 1)
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if isinstance(devices, (list, tuple, ListConfig)):
        return len(devices)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if devices in (-1, "-1", "auto", None):
        # Lightning's meaning: every GPU there is (CPU "auto" is one process).
        if accelerator in GPU_ACCELERATORS or accelerator == "auto":
            import torch

            return max(1, torch.cuda.device_count())
        return 1
    return int(devices)


def num_processes(cfg: DictConfig) -> int:
    return devices_per_node(cfg.trainer) * int(cfg.trainer.get("num_nodes", 1) or 1)


def check_devices(cfg: DictConfig) -> None:
    """Fail in one sentence when the config asks for GPUs this machine does not have."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator not in GPU_ACCELERATORS:
        return
    import torch

    present = torch.cuda.device_count()
    wanted = cfg.trainer.get("devices", 1)
    if present == 0:
        raise HarlitError(
            f"trainer.accelerator={accelerator} but no GPU is visible on {socket.gethostname()}; "
            "use trainer=cpu (or trainer=ddp_cpu) or run on a GPU machine."
        )
    if isinstance(wanted, (list, tuple, ListConfig)):
        too_high = [int(i) for i in wanted if int(i) >= present]
        if too_high:
            raise HarlitError(
                f"trainer.devices names GPU {too_high[0]} but only {present} GPU(s) are present; "
                f"use indices below {present}."
            )
        return
    count = devices_per_node(cfg.trainer)
    if count > present:
        raise HarlitError(
            f"trainer.devices={wanted} asks for {count} GPUs but only {present} are present; "
            f"set trainer.devices={present} or less."
        )


def ranks_created_externally(cfg: DictConfig) -> bool:
    """True when torchrun, SLURM tasks or harlit's launcher already created every rank."""
    if "LOCAL_RANK" in os.environ:
        return True
    tasks = slurm_ntasks()
    if tasks > 1:
        wanted = num_processes(cfg)
        if tasks != wanted:
            raise HarlitError(
                f"SLURM started {tasks} tasks but trainer.devices x trainer.num_nodes asks for {wanted} processes; "
                "set the launcher's tasks_per_node to trainer.devices and nodes to trainer.num_nodes."
            )
        return True
    return False


def needs_launch(cfg: DictConfig) -> bool:
    """Whether this job must start its own rank processes (see harlit/launch.py)."""
    return num_processes(cfg) > 1 and not ranks_created_externally(cfg)


def is_external_multi_rank(cfg: DictConfig) -> bool:
    """Ranks created by SLURM or torchrun (not by harlit): every task runs `train` itself."""
    return num_processes(cfg) > 1 and ranks_created_externally(cfg) and WORKER_ENV not in os.environ


def launch_id() -> str:
    """One name for every rank of this launch, different for a requeued or restarted attempt."""
    env = os.environ
    if "TORCHELASTIC_RUN_ID" in env:
        return f"torchrun-{env['TORCHELASTIC_RUN_ID']}-{env.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    if "SLURM_JOB_ID" in env:
        step = env.get("SLURM_STEP_ID", "0")
        return f"slurm-{env['SLURM_JOB_ID']}-{env.get('SLURM_RESTART_COUNT', '0')}-{step}"
    return f"port-{env.get('MASTER_ADDR', 'localhost')}-{env.get('MASTER_PORT', '0')}"


def wait_for_file(
    path: Path, timeout_s: float = 24 * 3600.0, poll_s: float = 0.5, what: str = "rank 0"
) -> Path:
    """Block a non-zero rank until rank 0 has written `path` (atomically, so a present file is whole)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise HarlitError(f"waited {timeout_s:.0f}s for {what} to write {path}; check rank 0's log.")
        time.sleep(poll_s)
    return path


def leave_process_group() -> None:
    """Destroy this process's process group, if it has one, after its last collective.

    A rank that exits with Gloo's group still alive can abort in the interpreter's teardown
    ("terminate called without an active exception", exit code -6; pytorch/pytorch#190489), which
    fails a run whose results are already written. Call it only on success: after a failure the other
    ranks may be inside a collective and the call would wait for them.
    """
    import torch.distributed as torch_dist

    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
