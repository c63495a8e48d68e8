"""Timing helpers shared by the benchmarks: device synchronisation, wall and CPU time, interleaved rounds,
and the Lightning callback that times a window of training steps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so a clock read covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall s, CPU s of this process). With one decoder thread the CPU time is the work itself, which
    other processes on a shared machine inflate far less than the wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(
    methods: dict[str, Callable[[], object]], repeats: int
) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of each method over `repeats` rounds, the methods taking turns within each round."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            times[name].append(cpu_timed(fn))
    return times


def median_step_seconds(
    step: Callable[[str], object],
    names: list[str],
    device: torch.device,
    rounds: int,
    steps: int,
    warmup: int = 1,
) -> dict[str, float]:
    """Median wall seconds of `step(name)` for each name, the names taking turns in every round, so drift
    on a shared machine hits each alike; `warmup` untimed steps each first."""
    for name in names:
        for _ in range(warmup):
            step(name)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            for _ in range(steps):
                start = time.perf_counter()
                step(name)
                synchronize(device)
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def best(values: list[tuple[float, float]]) -> tuple[float, float]:
    """Best wall and best CPU seconds: the least disturbed round of each."""
    return min(v[0] for v in values), min(v[1] for v in values)


class StepTimer(pl.Callback):
    """Wall time of `steps` whole step periods after `warmup` steps, synchronised with the device.

    The window opens at the start of step `warmup` and closes at the start of step `warmup + steps`, so
    it holds `steps` x (training step, step-end hooks, fetch and transfer of the next batch), epoch
    boundaries included: the run needs `max_steps = warmup + steps + 1`. A run that ends before
    (max_steps reached without the closing step) closes the window at the end of training.
    """

    def __init__(self, warmup: int, steps: int | None = None) -> None:
        self.warmup = warmup
        self.steps = steps
        self.start: float | None = None
        self.end: float | None = None
        self.timed_steps = 0
        self.samples = 0  # as served: a split smaller than a batch gives one short batch
        self.marks: list[tuple[int, float]] = []  # (batch_idx, host time) at each step start in the window

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            synchronize(pl_module.device)
            self.start = time.perf_counter()
            self.marks.append((batch_idx, self.start))
        elif self.start is not None and self.end is None and self.timed_steps == self.steps:
            synchronize(pl_module.device)
            self.end = time.perf_counter()
            self.marks.append((batch_idx, self.end))
        elif self.start is not None and self.end is None:
            self.marks.append((batch_idx, time.perf_counter()))  # no sync: the host's view

    def periods(self) -> dict[str, Any]:
        """Median step period and the extra time of the periods that cross an epoch boundary (epoch-end
        hooks, loader reset and the new epoch's first batch), from host times; with the per-step host
        sync of the training step the host keeps pace with the device, so they track the GPU."""
        steps = [(b_idx, t1 - t0) for (_, t0), (b_idx, t1) in zip(self.marks, self.marks[1:], strict=False)]
        if not steps:
            return {}
        median = float(np.median([d for _, d in steps]))
        boundary = [d for b_idx, d in steps if b_idx == 0]
        return {
            "median_step_ms": round(1e3 * median, 3),
            "epoch_boundaries": len(boundary),
            "epoch_boundary_extra_ms": round(1e3 * (float(np.mean(boundary)) - median), 3)
            if boundary
            else None,
        }

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.start is not None and self.end is None:
            self.timed_steps += 1
            self.samples += len(batch["label"]) if isinstance(batch, dict) and "label" in batch else 0

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.end is None:
            synchronize(pl_module.device)
            self.end = time.perf_counter()
