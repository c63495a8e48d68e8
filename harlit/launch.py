"""Multi-process training: each harlit job launches its own DDP ranks from its saved, resolved config.

This module never imports `harlit.train`: the ranks run `harlit.worker`, the one module that does.

Design
------
Lightning's own launcher (`_SubprocessScriptLauncher`) starts ranks 1..N-1 by re-running the parent's
command line. Inside a Hydra multirun that command line is the whole sweep (Lightning #11300, Hydra
#2070): every rank re-runs every job, jobs run twice and stray output folders appear. harlit therefore
never lets Lightning launch processes. When a job needs more than one process on this node and nobody
else created them (no LOCAL_RANK from torchrun or this module, no SLURM tasks for every rank), the job
process becomes a small supervisor:

1. it does the job's rank-0-only preparation itself, once: stage-1 dependencies (trained or looked up
   in the registry under its file lock), the checkpoint to resume from, the device check;
2. it writes the resolved config, with those answers filled in, to `<run dir>/ddp_config.yaml`;
3. it starts N fresh `python -m harlit.worker <that file>` workers with MASTER_ADDR, MASTER_PORT,
   WORLD_SIZE, NODE_RANK, LOCAL_RANK and RANK set, so Lightning's LightningEnvironment sees processes
   "created externally" and only joins them into a process group;
4. it waits, forwards SIGTERM/SIGUSR1/SIGINT to them, stops them all if one fails, and returns the
   metrics.json that rank 0 wrote.

Why a supervisor rather than making the job process rank 0: a sweep run by Hydra's basic launcher runs
its jobs one after another in one process, and a process group (or CUDA context) left over from job 1
would leak into job 2. Fresh workers start clean, every job gets exactly its own ranks and its own run
directory (the workers never start Hydra, so they make no folders), and a job cannot run twice because
the sweep's argv is never replayed. The price is one extra, idle Python process per job.

On SLURM with one task per GPU (`hydra/launcher=submitit_slurm`, tasks_per_node = trainer.devices),
SLURM has created the ranks already: each task trains in-process and Lightning's SLURMEnvironment joins
them; rank 0 alone writes, the others wait for its files (see `harlit.dist.wait_for_file`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from harlit.checkpointing import PREEMPTED_EXIT_CODE
from harlit.dist import WORKER_ENV, devices_per_node
from harlit.errors import HarlitError
from harlit.io import atomic_write_text

log = logging.getLogger(__name__)

WORKER_CONFIG = "ddp_config.yaml"
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


def worker_config(cfg: DictConfig, ckpts: dict[str, Path], ckpt_path: str | None) -> DictConfig:
    """The job's config, resolved, with the supervisor's answers filled in, for its ranks to train from.

    `ckpts` are the stage-1 encoders the supervisor found or trained (the ranks never touch the
    registry's training lock) and `ckpt_path` the checkpoint to resume from.
    """
    job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    resolved = OmegaConf.create(OmegaConf.to_container(job, resolve=True))
    assert isinstance(resolved, DictConfig)
    with open_dict(resolved):
        for modality, path in ckpts.items():
            resolved.model[f"{modality}_ckpt"] = str(path)
        resolved.ckpt_path = ckpt_path
        resolved.resume = False  # already resolved into ckpt_path
    return resolved


# --- the supervisor ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Workers get SIGTERM (and so save a checkpoint) if the supervisor is killed, even by SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def worker_environment(local_rank: int, local_world: int, num_nodes: int, master_port: int) -> dict[str, str]:
    env = dict(os.environ)
    node_rank = int(env.get("NODE_RANK", "0"))
    env.update(
        MASTER_ADDR=env.get("MASTER_ADDR", "127.0.0.1"),
        MASTER_PORT=str(master_port),
        WORLD_SIZE=str(local_world * num_nodes),
        NODE_RANK=str(node_rank),
        LOCAL_RANK=str(local_rank),
        RANK=str(node_rank * local_world + local_rank),
        **{WORKER_ENV: "1"},
    )
    # A supervisor inside a one-task SLURM allocation: the workers must not look like SLURM tasks,
    # or Lightning would take every one of them for SLURM_PROCID 0.
    for name in ("SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"):
        env.pop(name, None)
    return env


def launch(worker_cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run `worker_cfg` (resolved, no hydra node) on this node's ranks; return rank 0's metrics."""
    local_world = devices_per_node(worker_cfg.trainer)
    num_nodes = int(worker_cfg.trainer.get("num_nodes", 1) or 1)
    if num_nodes > 1 and not ("MASTER_ADDR" in os.environ and "NODE_RANK" in os.environ):
        raise HarlitError(
            f"trainer.num_nodes={num_nodes} needs the nodes to find each other; use hydra/launcher=submitit_slurm "
            "(docs/cluster.md) or set MASTER_ADDR, MASTER_PORT and NODE_RANK on every node."
        )
    master_port = int(os.environ.get("MASTER_PORT") or _free_port())
    config_path = out_dir / WORKER_CONFIG
    atomic_write_text(config_path, OmegaConf.to_yaml(worker_cfg, resolve=True))
    metrics_path = out_dir / "metrics.json"
    with contextlib.suppress(FileNotFoundError):
        metrics_path.unlink()  # a stale file from an interrupted attempt must not pass for this one's
    command = [sys.executable, "-m", "harlit.worker", str(config_path)]
    log.info(
        "Launching %d DDP ranks on this node (world size %d, port %d) from %s",
        local_world,
        local_world * num_nodes,
        master_port,
        config_path,
    )
    workers = [
        subprocess.Popen(
            command,
            env=worker_environment(rank, local_world, num_nodes, master_port),
            preexec_fn=_die_with_parent,
        )
        for rank in range(local_world)
    ]
    failed = _supervise(workers)
    if failed is not None:
        rank, code = failed
        if code == PREEMPTED_EXIT_CODE:  # the ranks saved a checkpoint and left on a signal
            raise SystemExit(PREEMPTED_EXIT_CODE)
        hint = "its error is printed above" if code == 2 else "see its output above"
        raise HarlitError(f"DDP rank {rank} of the run in {out_dir} stopped with exit code {code}; {hint}.")
    if not metrics_path.is_file():
        raise HarlitError(
            f"the DDP ranks finished without writing {metrics_path}; see rank 0's output above."
        )
    return json.loads(metrics_path.read_text())


def _supervise(workers: list[subprocess.Popen]) -> tuple[int, int] | None:
    """Wait for every worker; on the first failure stop the rest. Returns (rank, exit code) of a failure."""
    previous: dict[int, Any] = {}

    def forward(signum: int, _frame: Any) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
        for signum in FORWARDED_SIGNALS:
            previous[signum] = signal.signal(signum, forward)
    try:
        failure: tuple[int, int] | None = None
        while any(w.poll() is None for w in workers):
            for rank, worker in enumerate(workers):
                code = worker.poll()
                if code not in (None, 0) and failure is None:
                    failure = (rank, code)
                    _stop(workers)
            time.sleep(0.2)
        if failure is None:
            failure = next(((r, w.returncode) for r, w in enumerate(workers) if w.returncode != 0), None)
        return failure
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop(workers: list[subprocess.Popen], grace_s: float = 30.0) -> None:
    """SIGTERM the survivors (they checkpoint and leave), then SIGKILL whoever is still there."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + grace_s
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        if worker.poll() is None:
            worker.kill()
            worker.wait()
