"""`--profile N` of the training benchmark: N steps of each stage under torch.profiler after the warm-up,
written beside the JSON as `profile_<name>.txt` (breakdown + operator table) and `profiles.json`."""

from __future__ import annotations

import gzip
import logging
import shutil
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.profilers import Profiler

from harlit.bench.generated.utd import TreeSpec
from harlit.bench.timeline import format_breakdown, profile_breakdown
from harlit.bench.timing import synchronize
from harlit.bench.train_config import (
    Sizes,
    cache_stage_config,
    loader_settings,
    stage_config,
    steps_per_epoch,
)
from harlit.bench.train_runs import fit

log = logging.getLogger(__name__)


class TraceRanges(Profiler):
    """A Lightning profiler that only marks its actions (`[_TrainingEpochLoop].train_dataloader_next`,
    `[Strategy]SingleDeviceStrategy.backward`, ...) as `record_function` ranges in the torch.profiler trace."""

    def __init__(self) -> None:
        super().__init__()
        self._open: dict[str, list[Any]] = {}

    def start(self, action_name: str) -> None:
        scope = torch.profiler.record_function(action_name)
        scope.__enter__()
        self._open.setdefault(action_name, []).append(scope)

    def stop(self, action_name: str) -> None:
        stack = self._open.get(action_name)
        if stack:
            stack.pop().__exit__(None, None, None)

    def summary(self) -> str:
        return ""


class ProfileWindow(pl.Callback):
    """torch.profiler over `steps` whole step periods after `warmup` steps (CPU, and CUDA on a GPU).

    On a GPU it also sets `torch.cuda.set_sync_debug_mode("warn")` inside the window and records where each
    synchronising call came from (file:line of the Python caller).
    """

    def __init__(self, warmup: int, steps: int, on_gpu: bool) -> None:
        self.warmup = warmup
        self.steps = steps
        self.on_gpu = on_gpu
        self.profiler: torch.profiler.profile | None = None
        self.wall_s: float | None = None
        self.sync_sites: Counter[str] = Counter()
        self._start = 0.0
        self._warnings: Any = None
        self._recorded: list[warnings.WarningMessage] = []
        self._done = False

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.warmup and self.profiler is None:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if self.on_gpu:
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            synchronize(pl_module.device)
            self.profiler = torch.profiler.profile(activities=activities, record_shapes=False)
            self.profiler.__enter__()
            if self.on_gpu:
                self._warnings = warnings.catch_warnings(record=True)
                self._recorded = self._warnings.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            self._start = time.perf_counter()
        elif self.profiler is not None and not self._done and trainer.global_step == self.warmup + self.steps:
            self._close(pl_module.device)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.profiler is not None and not self._done:
            self._close(pl_module.device)

    def _close(self, device: torch.device) -> None:
        if self.on_gpu:
            torch.cuda.set_sync_debug_mode(0)
        synchronize(device)
        self.wall_s = time.perf_counter() - self._start
        if self._warnings is not None:
            for w in self._recorded:
                if "synchroniz" in str(w.message):
                    self.sync_sites[f"{_short_path(w.filename)}:{w.lineno}"] += 1
            self._warnings.__exit__(None, None, None)
        assert self.profiler is not None
        self.profiler.__exit__(None, None, None)
        self._done = True


def _short_path(filename: str) -> str:
    marker = "site-packages/"
    return filename.split(marker, 1)[1] if marker in filename else filename


def profile_stage(
    cfg: DictConfig,
    sizes: Sizes,
    steps: int,
    on_gpu: bool,
    out_dir: Path,
    name: str,
    trace: bool = False,
    offset: int = 0,
    what_if: str | None = None,
) -> dict[str, Any]:
    """Profile `steps` step periods from step `warmup + offset`; writes `profile_<name>.txt` (breakdown +
    table). An offset of a few steps after a whole-epoch warm-up keeps the window inside one epoch: a
    steady-state profile (the bench's `epoch-end +ms` column gives the epoch boundary's cost)."""
    start = sizes.warmup + offset
    window = ProfileWindow(start, steps, on_gpu)
    fit(cfg, replace(sizes, warmup=start, steps=steps), [window], what_if, profiler=TraceRanges())
    if window.profiler is None or window.wall_s is None:
        raise RuntimeError("the profiled run ended before its profiled steps")
    info = profile_breakdown(window.profiler, steps, window.wall_s)
    info["sync_sites"] = dict(window.sync_sites.most_common())
    sort_by = "self_device_time_total" if on_gpu else "self_cpu_time_total"  # the GPU time of each op
    table = window.profiler.key_averages().table(sort_by=sort_by, row_limit=25)
    text = format_breakdown(name, info) + f"\n\n# torch.profiler key_averages, sorted by {sort_by}\n" + table
    path = out_dir / f"profile_{name}.txt"
    path.write_text(text + "\n")
    info["file"] = path.name
    if trace:  # for chrome://tracing or https://ui.perfetto.dev; gzipped (S3D steps hold ~10k events each)
        raw = out_dir / f"trace_{name}.json"
        window.profiler.export_chrome_trace(str(raw))
        with open(raw, "rb") as source, gzip.open(raw.with_suffix(".json.gz"), "wb") as target:
            shutil.copyfileobj(source, target)
        raw.unlink()
        info["trace"] = raw.with_suffix(".json.gz").name
    print(format_breakdown(name, info))
    return info


class CacheProfile(NamedTuple):
    """What the cache source's profiles run on: the generated tree, the cache formats, one loader variant."""

    tree: Path
    spec: TreeSpec
    formats: list[str]
    variant: str
    settings: dict[str, Any]


def profile_stages(
    stages: list[str],
    sizes: Sizes,
    on_gpu: bool,
    root: Path,
    out_dir: Path,
    steps: int,
    trace: bool,
    profiles: list[dict[str, Any]],
    save: Callable[[], None],
    cache: CacheProfile | None = None,
) -> None:
    """Profile each stage on the synthetic source, or on the cache source (each format of the clip stages)
    when `cache` is given. Appends to `profiles` (a failing profile records its error), saving after each."""
    for stage in stages:
        stage_sizes = sizes.for_stage(stage)
        if cache is not None:
            per_epoch = steps_per_epoch(cache.spec.train_samples, stage_sizes.batch_size)
            stage_sizes = stage_sizes.in_whole_epochs(per_epoch)
            jobs = [
                (
                    f"cache_{stage}_{fmt}_{cache.variant}"
                    if stage != "imu"
                    else f"cache_imu_{cache.variant}",
                    cache_stage_config(
                        stage,
                        stage_sizes,
                        on_gpu,
                        root,
                        cache.tree,
                        fmt,
                        cache.settings,
                        f"profile-{stage}-{fmt}",
                    ),
                )
                for fmt in (cache.formats if stage != "imu" else cache.formats[:1])
            ]
            what_if = cache.settings.get("what_if")
        else:
            jobs = [(f"synthetic_{stage}", stage_config(stage, stage_sizes, on_gpu, root))]
            what_if = None
        for name, cfg in jobs:
            try:
                offset = 2 if cache is not None else 0  # mid-epoch, past the new epoch's first batch
                info = profile_stage(cfg, stage_sizes, steps, on_gpu, out_dir, name, trace, offset, what_if)
                profiles.append({"name": name, "loader": loader_settings(cfg), **info})
            except Exception as err:
                log.error("profile %s failed:\n%s", name, traceback.format_exc())
                profiles.append({"name": name, "error": f"{type(err).__name__}: {str(err)[:300]}"})
            save()
