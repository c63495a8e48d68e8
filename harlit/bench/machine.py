"""What the benchmarks record about the machine they ran on: cores, threads, versions, GPU, load."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any

import pytorch_lightning as pl
import torch


def machine() -> dict[str, Any]:
    """Host, CPU cores and torch threads, torch and Lightning versions, the GPU, free /dev/shm."""
    info: dict[str, Any] = {
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    with contextlib.suppress(OSError):
        stat = os.statvfs("/dev/shm")
        info["dev_shm_free_gb"] = round(stat.f_bavail * stat.f_frsize / 1e9, 2)
    return info


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how much other processes share the cores."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
