"""Test-only pieces that subprocess runs import (PYTHONPATH=tests/helpers): never part of harlit."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys

import numpy as np
import pytorch_lightning as pl

from harlit.data.base import SampleTable
from harlit.data.synthetic import SyntheticDataModule


class KillAtStep(pl.Callback):
    """Signal this very process after optimizer step `step`: SIGKILL is a crash with no chance to clean
    up, SIGTERM what a cluster sends before preempting a job. `whole_job`: its child processes (loader
    workers) get the signal too, as every process of a job does from a scheduler."""

    def __init__(self, step: int, signal_name: str = "SIGKILL", whole_job: bool = False) -> None:
        self.step = step
        self.signum = getattr(signal, signal_name)
        self.whole_job = whole_job
        self.sent = False

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if trainer.global_step >= self.step and not self.sent:
            self.sent = True
            if self.whole_job:  # from another process, as the scheduler's: torch's workers tell the two apart
                children = [child.pid for child in multiprocessing.active_children()]
                send = f"import os; [os.kill(pid, {int(self.signum)}) for pid in {children}]"
                subprocess.run([sys.executable, "-c", send], check=True)
            os.kill(os.getpid(), self.signum)


class OddTestSynthetic(SyntheticDataModule):
    """Synthetic data with one test sample fewer: an odd test set, which DistributedSampler would pad."""

    def split(self, table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
        train, test = super().split(table)
        return train, test[:-1]
