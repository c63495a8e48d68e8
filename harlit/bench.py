"""`python -m harlit.bench`: training throughput of the real pipeline next to the model-only ceiling.

For stage-1 video, stage 2 (fusion) and stage-1 IMU it measures, in one run:

* pipeline: samples/s of `Trainer.fit` steps through the real DataModule, LightningModule and Trainer,
  built from the same Hydra config as a training run (`trainer=gpu` on a GPU, `trainer=cpu` otherwise);
* ceiling: samples/s of the same model and batch size on synthetic tensors already on the device,
  in a bare forward/backward/step loop with the same precision and memory format.

Two sources of data (`--source`):

* `synthetic` (default): the synthetic DataModule (uint8 clips rendered by the loader workers); the clip
  stages loop over a short epoch, since rendering a 224x224 clip costs ~0.1 s of CPU.
* `cache`: a UTD-MHAD-shaped tree of real-format files (`.mat` inertial, 640x480 `.avi` clips) generated
  once under `--root`, its video cache prepared by the datamodule's own `prepare_videos` in each
  `--cache-format` (uint8 `.npy` / JPEG `.jpgs`), and `data=utd_mhad` (the `utd_*` experiments) trained at
  the real epoch size: 431 training samples, 26 batches of 16. The loader settings of `--variants`
  (`old`: 4 workers x prefetch 2, as before; `new`: what the config says now) run in the same process,
  and so can what-ifs, bench-only patches that tell what a change not made yet would gain: `nosync`
  (the training step's host syncs taken out), `overlap` (that, and each batch copied to the GPU on a
  side stream while the step before it runs) and `resident` (nosync, and the training clips held in GPU
  memory); what-ifs run on the first cache format only unless `--what-if-formats all`.

`--profile N` runs N steps of each stage under `torch.profiler` after the warm-up and writes, beside
`--out`, the operator table and a per-step breakdown: loader wait, host-to-device copy, augmentation,
forward, backward, optimizer, host syncs, GPU busy time (`profile_*.txt`, `profiles.json`).

It prints a table with pipeline / ceiling and writes JSON (rewritten after every measurement, so a run
cut short keeps what it measured). On a GPU the sizes are harlit's UTD/MMAct clip size (16 frames of
224x224); on a CPU they are small (8 frames of 32x32) so it finishes in a minute or two.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import json
import logging
import multiprocessing
import os
import platform
import re
import shutil
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, open_dict
from pytorch_lightning.profilers import Profiler

from harlit.build import build_datamodule, build_model, build_trainer
from harlit.config import compose_config, instantiate
from harlit.data.base import HARDataModule
from harlit.data.sampling import drops_last
from harlit.data.transforms import normalise_imu
from harlit.data.utd_mhad import ABSENT_FROM_DATASET, CLASS_NAMES, NUM_TRIALS
from harlit.fastpath import DeviceBatches
from harlit.models.classifier import MODALITIES_OF, HARClassifier
from harlit.startup import configure

log = logging.getLogger(__name__)

EXPERIMENTS = {"video": "synthetic_stage1_video", "fusion": "synthetic_stage2", "imu": "synthetic_stage1_imu"}
CACHE_EXPERIMENTS = {"video": "utd_stage1_video", "fusion": "utd_stage2", "imu": "utd_stage1_imu"}
SOURCES = ("synthetic", "cache")
CACHE_FORMATS = ("uint8", "jpeg")
TRAIN_SUBJECTS = (1, 3, 5, 7)  # UTD-MHAD's training subjects
TEST_SAMPLE = (1, 2, 1)  # (action, subject, trial): the split needs a test sample; fit never reads it

# Loader settings compared in one run (data.* keys); `new` is the composed config as it stands.
LOADER_PRESETS: dict[str, dict[str, Any]] = {
    "old": {"num_workers": 4, "prefetch_factor": 2},  # trainer=gpu before the prefetch change
    "new": {},
    # What-ifs, not pipeline settings: the new loader with bench-only patches, to tell what a change the
    # pipeline does not have yet would gain. nosync: the training step's host syncs taken out
    # (`without_step_syncs`); overlap: that, and each batch copied to the GPU on a side stream while the
    # step before it runs (`CopyAhead`).
    "nosync": {"what_if": "nosync"},
    "overlap": {"what_if": "nosync+h2d"},
    # resident: nosync, and the training clips held in GPU memory, batches sliced there (`resident_batches`;
    # UTD's 431 clips of 16x224x224 are 1 GB), as harlit.fastpath already does for IMU.
    "resident": {"what_if": "nosync+resident"},
}
WHAT_IFS = ("nosync", "h2d", "resident")


def what_if_flags(text: str | None) -> set[str]:
    """`nosync+h2d` -> {"nosync", "h2d"}; ValueError for an unknown one."""
    flags = {f for f in (text or "").split("+") if f}
    unknown = sorted(flags - set(WHAT_IFS))
    if unknown:
        raise ValueError(f"unknown what-if {unknown[0]!r}; known: {', '.join(WHAT_IFS)} (joined by +)")
    return flags


@dataclass
class Sizes:
    batch_size: int
    num_frames: int
    frame_size: int
    imu_length: int
    warmup: int
    steps: int
    clip_batches_per_epoch: int = 12  # synthetic clip stages loop over a short epoch; see stage_config
    imu_batch_size: int = 32  # the IMU stage trains at batch 32; its steps are cheap, so it takes 5x more

    def for_stage(self, stage: str) -> Sizes:
        if stage != "imu":
            return self
        return replace(self, batch_size=self.imu_batch_size, warmup=5 * self.warmup, steps=5 * self.steps)

    def in_whole_epochs(self, steps_per_epoch: int) -> Sizes:
        """Warm-up and timed steps rounded up to whole epochs: the timed window holds every epoch boundary
        (epoch-end hooks, loader refill) in the proportion a training run has them."""

        def whole(n: int) -> int:
            return max(1, -(-n // steps_per_epoch)) * steps_per_epoch

        return replace(self, warmup=whole(self.warmup), steps=whole(self.steps))


GPU_SIZES = Sizes(batch_size=16, num_frames=16, frame_size=224, imu_length=128, warmup=10, steps=40)
CPU_SIZES = Sizes(batch_size=4, num_frames=8, frame_size=32, imu_length=128, warmup=2, steps=6)


@dataclass
class Result:
    stage: str
    batch_size: int
    pipeline_samples_per_s: float
    ceiling_samples_per_s: float
    source: str = "synthetic"
    cache_format: str = "-"
    variant: str = "-"
    loader: dict[str, Any] = field(default_factory=dict)
    warmup_steps: int = 0
    timed_steps: int = 0
    steps_per_epoch: int | None = None
    periods: dict[str, Any] = field(default_factory=dict)  # StepTimer.periods
    error: str | None = None

    @property
    def ratio(self) -> float:
        if not self.pipeline_samples_per_s or not self.ceiling_samples_per_s:
            return float("nan")
        return self.pipeline_samples_per_s / self.ceiling_samples_per_s


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
            _synchronize(pl_module.device)
            self.start = time.perf_counter()
            self.marks.append((batch_idx, self.start))
        elif self.start is not None and self.end is None and self.timed_steps == self.steps:
            _synchronize(pl_module.device)
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
            _synchronize(pl_module.device)
            self.end = time.perf_counter()


# --- the configs ----------------------------------------------------------------------------------


def stage_config(stage: str, sizes: Sizes, on_gpu: bool, root: Path) -> DictConfig:
    """The training config of a stage, shrunk to the benchmark's sizes (clip stages loop over a short epoch)."""
    per_subject = 12  # classes; one repetition each
    batches = sizes.warmup + sizes.steps + 1
    if stage != "imu":
        # Rendering a synthetic 224x224 clip takes ~0.1 s of CPU, so clip stages loop over a short epoch
        # (persistent loader workers keep the epoch boundary cheap); IMU steps are too quick for that.
        batches = min(batches, sizes.clip_batches_per_epoch)
    samples = sizes.batch_size * batches
    repetitions = max(1, -(-samples // per_subject))
    overrides = [
        f"+experiment={EXPERIMENTS[stage]}",
        "trainer=gpu" if on_gpu else "trainer=cpu",
        "logger=none",
        "data.num_subjects=2",  # subject 1 trains
        f"data.repetitions={repetitions}",
        f"data.num_frames={sizes.num_frames}",
        f"data.frame_size={sizes.frame_size}",
        f"data.imu_length={sizes.imu_length}",
        f"data.batch_size={sizes.batch_size}",
        f"paths.root_dir={root}",
        f"paths.output_dir={root / 'bench' / stage}",
    ]
    cfg = compose_config(overrides, return_hydra_config=False)
    with open_dict(cfg):
        if "video" in cfg.model and stage != "video":
            cfg.model.video.pretrained = "none"
    return cfg


def loader_overrides(settings: dict[str, Any]) -> list[str]:
    """`data.*` overrides of a loader variant (its what-if flag is no data key)."""
    return [f"data.{k}={'null' if v is None else v}" for k, v in settings.items() if k != "what_if"]


def cache_stage_config(
    stage: str,
    sizes: Sizes,
    on_gpu: bool,
    root: Path,
    tree: Path,
    cache_format: str,
    loader: dict[str, Any] | None = None,
    run_name: str | None = None,
) -> DictConfig:
    """The `utd_*` experiment of a stage on the generated tree, at the benchmark's sizes.

    Everything else is the experiment's own: its augmentation, optimizer, trainer=gpu's precision, memory
    format and loader settings (unless `loader` overrides the latter). No Kinetics download: the
    encoders start from random weights, which costs the same compute.
    """
    overrides = [
        f"+experiment={CACHE_EXPERIMENTS[stage]}",
        "trainer=gpu" if on_gpu else "trainer=cpu",
        "logger=none",
        f"data.root={tree}",
        f"data.cache_dir={root / 'cache'}",
        f"data.cache_format={cache_format}",
        f"data.train_subjects=[{','.join(map(str, TRAIN_SUBJECTS))}]",
        f"data.test_subjects=[{TEST_SAMPLE[1]}]",
        f"data.num_frames={sizes.num_frames}",
        f"data.frame_size={sizes.frame_size}",
        f"data.imu_length={sizes.imu_length}",
        f"data.batch_size={sizes.batch_size}",
        *loader_overrides(loader or {}),
        f"paths.root_dir={root}",
        f"paths.output_dir={root / 'bench' / (run_name or stage)}",
    ]
    cfg = compose_config(overrides, return_hydra_config=False)
    with open_dict(cfg):
        if "video" in cfg.model:
            cfg.model.video.pretrained = "none"
    return cfg


def loader_settings(cfg: DictConfig) -> dict[str, Any]:
    """The loader settings a config resolves to, as recorded beside each figure."""
    return {k: cfg.data.get(k) for k in ("num_workers", "prefetch_factor", "pin_memory")}


# --- the generated UTD-MHAD tree ------------------------------------------------------------------


@dataclass(frozen=True)
class TreeSpec:
    """A UTD-MHAD-shaped tree: `actions` x the 4 training subjects x `trials`, less the ids the real
    dataset lacks, plus one test sample. The defaults give the real training split: 431 samples."""

    actions: int = len(CLASS_NAMES)
    trials: int = NUM_TRIALS
    frames: int = 20
    width: int = 640  # UTD-MHAD's frame size
    height: int = 480

    def sample_ids(self) -> list[tuple[int, int, int]]:
        ids = [
            (a, s, t)
            for a in range(1, self.actions + 1)
            for s in TRAIN_SUBJECTS
            for t in range(1, self.trials + 1)
            if f"a{a}_s{s}_t{t}" not in ABSENT_FROM_DATASET
        ]
        return [*ids, TEST_SAMPLE]

    @property
    def train_samples(self) -> int:
        return len(self.sample_ids()) - 1

    def folder_name(self) -> str:
        return f"utd_{self.actions}a{self.trials}t_{self.frames}f_{self.width}x{self.height}"


def _write_avi(path: Path, frames: int, width: int, height: int, seed: int) -> None:
    """A textured 15 fps mpeg4 clip with a moving block. Unlike flat colour, its cached JPEG clips come out
    at about the size of real footage's (0.19-0.23 MB per 16x224x224 clip at quality 90; MMAct's sample:
    0.19), so the loader workers decode as much as they would from a real cache."""
    import av

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx * 255 // max(1, width - 1))[..., None] * rng.uniform(0.3, 1.0, 3)).astype(np.uint8)
    base[(yy // 32 + xx // 32) % 2 == 1] //= 2
    base += rng.integers(0, 12, size=base.shape, dtype=np.uint8)
    box_h, box_w = max(1, height // 3), max(1, width // 6)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=15)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 2_000_000
        for i in range(frames):
            image = base.copy()
            x, y = (i * 17) % max(1, width - box_w), (height - box_h) // 2
            image[y : y + box_h, x : x + box_w] = 255 - image[y : y + box_h, x : x + box_w]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_sample(root: str, action: int, subject: int, trial: int, spec: TreeSpec) -> None:
    import scipy.io

    sample = f"a{action}_s{subject}_t{trial}"
    rng = np.random.default_rng([action, subject, trial])
    length = int(rng.integers(107, 327))  # UTD's recordings: 107-326 samples at 50 Hz
    t = np.linspace(0, 1, length)
    signal = rng.normal(0, 0.05, size=(length, 6))
    signal[:, action % 6] += np.sin(2 * np.pi * (1 + action % 4) * t)
    signal[:, 2] += 1.0
    signal[:, 3:] *= 100.0
    scipy.io.savemat(Path(root) / "Inertial" / f"{sample}_inertial.mat", {"d_iner": signal})
    seed = action * 100 + subject * 10 + trial
    _write_avi(Path(root) / "RGB" / f"{sample}_color.avi", spec.frames, spec.width, spec.height, seed)


def build_utd_tree(root: Path, spec: TreeSpec, workers: int | None = None) -> Path:
    """Generate the tree under `root` once (a `tree.json` marker says it is complete); returns its folder."""
    folder = root / spec.folder_name()
    marker = folder / "tree.json"
    record = {**asdict(spec), "samples": len(spec.sample_ids()), "train_samples": spec.train_samples}
    if marker.is_file() and json.loads(marker.read_text()) == record:
        return folder
    for sub in ("Inertial", "RGB"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    ids = spec.sample_ids()
    workers = max(1, min(workers or os.cpu_count() or 1, len(ids)))
    start = time.perf_counter()
    if workers == 1:
        for a, s, t in ids:
            _write_sample(str(folder), a, s, t, spec)
    else:
        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for future in [pool.submit(_write_sample, str(folder), a, s, t, spec) for a, s, t in ids]:
                future.result()
    marker.write_text(json.dumps(record, indent=2))
    log.info(
        "bench: generated %d UTD-MHAD samples in %s (%.0f s)", len(ids), folder, time.perf_counter() - start
    )
    return folder


def prepare_cache(cfg: DictConfig) -> dict[str, Any]:
    """Build the video cache of `cfg.data` through the datamodule's own `prepare_videos`; its figures."""
    datamodule = build_datamodule(cfg, ["video"])
    start = time.perf_counter()
    cache, requests, failures = datamodule.prepare_videos(progress=False)
    seconds = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"the generated clips failed to decode: {dict(list(failures.items())[:3])}")
    sizes = [cache.clip_path(r).stat().st_size for r in requests]
    return {
        "folder": str(cache.folder),
        "clips": len(requests),
        "mb_per_clip": round(sum(sizes) / len(sizes) / 1e6, 4),
        "prepare_s": round(seconds, 2),  # 0 when an earlier run built it
    }


# --- the measurements ------------------------------------------------------------------------------


def without_step_syncs(model: HARClassifier) -> None:
    """What-if `nosync` (bench only): take out the training step's two host syncs without touching the model.

    Logging `train/loss` with prog_bar=True makes Lightning turn it into a Python float after every step
    (`.item()`), and the torchmetrics update of the training metrics syncs inside `torch.bincount`. Here
    the loss stays logged (off the progress bar) and the training metrics are not updated at all: the
    figure is an upper bound on what a sync-free training metric would give.
    """
    log_method = model.log

    def log_off_the_bar(name: str, value: Any, *args: Any, **kwargs: Any) -> None:
        if name.startswith("train/"):
            kwargs["prog_bar"] = False
        log_method(name, value, *args, **kwargs)

    model.log = log_off_the_bar  # type: ignore[method-assign]
    model.train_metrics.update = lambda *args, **kwargs: None  # type: ignore[method-assign]


class CopyAhead:
    """What-if `h2d` (bench only): the training loader's batches copied to the GPU on a side stream, each
    while the step before it runs, instead of on the compute stream just before their own step.

    Lightning copies a batch on the current stream, so the copy (~1-2 ms for 38 MB from pinned memory)
    sits between two steps on the GPU. Here the compute stream only waits for an event of the copy
    stream, and the tensors are marked as used by the compute stream for the caching allocator.
    Lightning's own `.to(device)` of the batch is then a no-op. On a CPU it passes the batches through.
    """

    def __init__(self, loader: Any, device: torch.device) -> None:
        self.loader = loader
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)

    # Lightning shuts down a loader's workers at the end of fit through `_iterator`: pass it through.
    @property
    def _iterator(self) -> Any:
        return getattr(self.loader, "_iterator", None)

    @_iterator.setter
    def _iterator(self, value: Any) -> None:
        if hasattr(self.loader, "_iterator"):
            self.loader._iterator = value

    def __iter__(self) -> Any:
        if self.device.type != "cuda":
            yield from self.loader
            return
        stream = torch.cuda.Stream(self.device)
        batches = iter(self.loader)

        def issue() -> tuple[dict[str, Any], torch.cuda.Event] | None:
            batch = next(batches, None)
            if batch is None:
                return None
            with torch.cuda.stream(stream):
                moved = {
                    k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                    for k, v in batch.items()
                }
                done = torch.cuda.Event()
                done.record(stream)
            return moved, done

        pending = issue()
        while pending is not None:
            moved, done = pending
            current = torch.cuda.current_stream(self.device)
            current.wait_event(done)
            for value in moved.values():
                if isinstance(value, torch.Tensor):
                    value.record_stream(current)
            pending = issue()  # the next copy starts before this batch's step is launched
            yield moved


def resident_batches(datamodule: HARDataModule, device: torch.device) -> None:
    """What-if `resident` (bench only): the training split in device memory, clips included, served as
    shuffled device slices (`harlit.fastpath.DeviceBatches`, as DeviceResidentData serves IMU): no loader
    workers, no copies, no epoch-start refill. Augmentation still runs in `on_after_batch_transfer`."""
    train = datamodule.train_set
    rows = torch.as_tensor(train.indices, dtype=torch.long)
    tensors = {
        "label": torch.as_tensor(train.table.labels[train.indices], dtype=torch.long).to(device),
        "index": rows.to(device),
    }
    if "imu" in datamodule.modalities:
        tensors["imu"] = normalise_imu(train.table.imu[rows], train.imu_stats).to(device).contiguous()
    if "video" in datamodule.modalities:
        tensors["video"] = torch.stack([train.table.video[int(r)] for r in train.indices]).to(device)
    drop_last = drops_last(True, len(train), datamodule.batch_size)
    batches = DeviceBatches(tensors, datamodule.batch_size, shuffle=True, drop_last=drop_last)
    datamodule.batch_source = lambda split, dataset, batch_size, shuffle: (
        batches if split == "train" else datamodule.data_loader(dataset, shuffle, batch_size)
    )


def _fit(
    cfg: DictConfig,
    sizes: Sizes,
    callbacks: list[pl.Callback],
    what_if: str | None = None,
    profiler: Profiler | None = None,
) -> pl.Trainer:
    pl.seed_everything(0, verbose=False)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    # Stage 2 with randomly initialised encoders: the same compute as with stage-1 weights.
    model = build_model(cfg, datamodule.num_classes)
    flags = what_if_flags(what_if)
    if "nosync" in flags:
        without_step_syncs(model)
    device = torch.device("cuda" if cfg.trainer.get("accelerator") == "gpu" else "cpu")
    if "resident" in flags:
        resident_batches(datamodule, device)
    elif "h2d" in flags:
        datamodule.batch_source = lambda split, dataset, batch_size, shuffle: (
            CopyAhead(datamodule.data_loader(dataset, shuffle, batch_size), device)
            if split == "train"
            else datamodule.data_loader(dataset, shuffle, batch_size)
        )
    if cfg.get("callbacks") and cfg.callbacks.get("device_resident"):
        callbacks = [*callbacks, instantiate(cfg.callbacks.device_resident)]
    trainer = build_trainer(
        cfg,
        callbacks=callbacks,
        plugins=None,
        max_steps=sizes.warmup + sizes.steps + 1,  # the extra step closes the timed window
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
    )
    if profiler is not None:
        trainer.profiler = profiler  # an object: it cannot pass through the trainer's config
    try:
        trainer.fit(model, datamodule=datamodule)
    finally:
        # Many runs share one process: free this one's loader workers (Lightning's teardown does it too),
        # batches and device memory now, not whenever the reference cycles get collected.
        combined = getattr(trainer.fit_loop, "_combined_loader", None)
        if combined is not None:
            combined.reset()
        gc.collect()
    return trainer


def measure_pipeline_periods(
    cfg: DictConfig, sizes: Sizes, what_if: str | None = None
) -> tuple[float, dict[str, Any]]:
    """Samples/s of the pipeline, and its step periods (`StepTimer.periods`)."""
    timer = StepTimer(sizes.warmup, sizes.steps)
    _fit(cfg, sizes, [timer], what_if)
    if timer.start is None or timer.end is None or timer.timed_steps == 0:
        raise RuntimeError("the benchmark run ended before its timed steps")
    samples = timer.samples or timer.timed_steps * sizes.batch_size
    return samples / (timer.end - timer.start), timer.periods()


def measure_pipeline(cfg: DictConfig, sizes: Sizes, what_if: str | None = None) -> float:
    return measure_pipeline_periods(cfg, sizes, what_if)[0]


def synthetic_batch(
    cfg: DictConfig, sizes: Sizes, num_classes: int, device: torch.device
) -> dict[str, torch.Tensor]:
    batch: dict[str, torch.Tensor] = {
        "label": torch.randint(0, num_classes, (sizes.batch_size,), device=device)
    }
    modalities = MODALITIES_OF[cfg.model.modality]
    if "video" in modalities:
        batch["video"] = torch.randint(
            0,
            256,
            (sizes.batch_size, 3, sizes.num_frames, sizes.frame_size, sizes.frame_size),
            dtype=torch.uint8,
            device=device,
        )
    if "imu" in modalities:
        batch["imu"] = torch.randn(
            sizes.batch_size, int(cfg.data.imu_channels), sizes.imu_length, device=device
        )
    return batch


def measure_ceiling(cfg: DictConfig, sizes: Sizes, num_classes: int, device: torch.device) -> float:
    pl.seed_everything(0, verbose=False)
    model = build_model(cfg, num_classes).to(device).train()
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    batch = synthetic_batch(cfg, sizes, num_classes, device)
    precision = str(cfg.trainer.get("precision", "32"))
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if "bf16" in precision else contextlib.nullcontext()
    )

    def step() -> None:
        with autocast:
            loss = F.cross_entropy(model(batch).float(), batch["label"])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(sizes.warmup):
        step()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(sizes.steps):
        step()
    _synchronize(device)
    return sizes.steps * sizes.batch_size / (time.perf_counter() - start)


def run_bench(stages: list[str], sizes: Sizes, on_gpu: bool, root: Path) -> list[Result]:
    """The synthetic source: one pipeline and one ceiling figure per stage."""
    device = torch.device("cuda" if on_gpu else "cpu")
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    results = []
    for stage in stages:
        stage_sizes = sizes.for_stage(stage)
        cfg = stage_config(stage, stage_sizes, on_gpu, root)
        log.info("bench %s: pipeline", stage)
        pipeline, periods = measure_pipeline_periods(cfg, stage_sizes)
        log.info("bench %s: ceiling", stage)
        ceiling = measure_ceiling(cfg, stage_sizes, 12, device)
        results.append(
            Result(
                stage,
                stage_sizes.batch_size,
                pipeline,
                ceiling,
                loader=loader_settings(cfg),
                warmup_steps=stage_sizes.warmup,
                timed_steps=stage_sizes.steps,
                periods=periods,
            )
        )
    return results


def parse_variants(text: str) -> dict[str, dict[str, Any]]:
    """`old,new` or `NAME:key=value:key=value` (data loader keys, or what_if=nosync+h2d), comma-separated."""
    variants: dict[str, dict[str, Any]] = {}
    for item in (v.strip() for v in text.split(",")):
        if not item:
            continue
        name, *pairs = item.split(":")
        if not pairs:
            if name not in LOADER_PRESETS:
                raise ValueError(f"unknown loader variant {name!r}; presets: {', '.join(LOADER_PRESETS)}")
            variants[name] = dict(LOADER_PRESETS[name])
            continue
        settings: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or key not in ("num_workers", "prefetch_factor", "pin_memory", "what_if"):
                raise ValueError(
                    f"bad loader setting {pair!r} in {item!r}: num_workers, prefetch_factor, pin_memory or what_if"
                )
            settings[key] = value
        what_if_flags(settings.get("what_if"))
        variants[name] = settings
    if not variants:
        raise ValueError("no loader variant given")
    return variants


def steps_per_epoch(train_samples: int, batch_size: int) -> int:
    """Training batches per epoch: HARDataModule drops the last partial batch when there is more than one."""
    return train_samples // batch_size if train_samples > batch_size else 1


def cache_runs(
    stages: list[str],
    formats: list[str],
    variants: dict[str, dict[str, Any]],
    what_if_formats: list[str] | None = None,
) -> list[tuple[str, str, str]]:
    """(stage, format, variant) of each pipeline figure.

    Loader variants run on every format; what-if variants on `what_if_formats` only (default: all).

    The IMU stage reads no clips, and on a GPU its batches are slices of device memory
    (harlit.fastpath.DeviceResidentData) that no loader setting, copy or residency reaches: it runs once
    with and once without `nosync`, as the last variant of each kind with no other what-if
    (`old,new,nosync,overlap,resident`: new and nosync).
    """
    runs = []
    for stage in stages:
        if stage == "imu":
            chosen: dict[bool, str] = {}
            for name, settings in variants.items():
                flags = what_if_flags(settings.get("what_if"))
                kind = "nosync" in flags
                if kind not in chosen or not flags - {"nosync"}:
                    chosen[kind] = name
            runs += [(stage, "-", name) for name in variants if name in chosen.values()]
        else:
            runs += [
                (stage, fmt, name)
                for fmt in formats
                for name in variants
                if not variants[name].get("what_if") or fmt in (what_if_formats or formats)
            ]
    return runs


def run_cache_bench(
    stages: list[str],
    sizes: Sizes,
    on_gpu: bool,
    root: Path,
    spec: TreeSpec,
    formats: list[str],
    variants: dict[str, dict[str, Any]],
    report: dict[str, Any],
    save: Callable[[], None],
    what_if_formats: list[str] | None = None,
) -> list[Result]:
    """The cache source: tree, caches, then every (stage, format, variant) next to its stage's ceiling.

    A failing figure is recorded with its error and the others still run: a GPU session is short.
    """
    device = torch.device("cuda" if on_gpu else "cpu")
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    tree = build_utd_tree(root, spec)
    report["tree"] = {**asdict(spec), "folder": str(tree), "train_samples": spec.train_samples}
    report.setdefault("cache", {})
    if any(stage != "imu" for stage in stages):
        for fmt in formats:
            cfg = cache_stage_config("video", sizes, on_gpu, root, tree, fmt)
            report["cache"][fmt] = prepare_cache(cfg)
            log.info("bench: %s cache %s", fmt, report["cache"][fmt])
    save()
    ceilings: dict[str, float] = {}
    results: list[Result] = report.setdefault("_results", [])
    for stage, fmt, variant in cache_runs(stages, formats, variants, what_if_formats):
        settings = variants[variant]
        base = sizes.for_stage(stage)
        per_epoch = steps_per_epoch(spec.train_samples, base.batch_size)
        stage_sizes = base.in_whole_epochs(per_epoch)
        cfg = cache_stage_config(
            stage,
            stage_sizes,
            on_gpu,
            root,
            tree,
            fmt if fmt != "-" else formats[0],
            settings,
            run_name=f"{stage}-{fmt}-{variant}",
        )
        result = Result(
            stage,
            stage_sizes.batch_size,
            0.0,
            0.0,
            source="cache",
            cache_format=fmt,
            variant=variant,
            loader={**loader_settings(cfg), "what_if": settings.get("what_if")},
            warmup_steps=stage_sizes.warmup,
            timed_steps=stage_sizes.steps,
            steps_per_epoch=per_epoch,
        )
        try:
            log.info("bench %s (%s, %s): pipeline", stage, fmt, variant)
            result.pipeline_samples_per_s, result.periods = measure_pipeline_periods(
                cfg, stage_sizes, settings.get("what_if")
            )
            if stage not in ceilings:
                log.info("bench %s: ceiling", stage)
                ceilings[stage] = measure_ceiling(cfg, stage_sizes, len(CLASS_NAMES), device)
            result.ceiling_samples_per_s = ceilings[stage]
        except Exception as err:  # record it and go on with the other figures
            log.error("bench %s (%s, %s) failed:\n%s", stage, fmt, variant, traceback.format_exc())
            result.error = f"{type(err).__name__}: {str(err)[:300]}"
            result.ceiling_samples_per_s = ceilings.get(stage, 0.0)
        results.append(result)
        save()
    return results


# --- the profile -----------------------------------------------------------------------------------


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
            _synchronize(pl_module.device)
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
        _synchronize(device)
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


# Lightning's profiler actions, in the order a step runs them: (label, pattern of the action name).
STEP_PARTS = (
    ("wait for the next batch (loader fetch)", r"^\[_TrainingEpochLoop\]\.train_dataloader_next$"),
    ("host-to-device copy (transfer_batch_to_device)", r"\.transfer_batch_to_device$"),
    ("augmentation (on_after_batch_transfer)", r"\.on_after_batch_transfer$"),
    ("forward + loss + metrics + log (training_step)", r"^\[Strategy\]\w+\.training_step$"),
    ("backward", r"^\[Strategy\]\w+\.backward$"),
    ("optimizer_step (incl. the two above)", r"^\[LightningModule\]\w+\.optimizer_step$"),
    ("zero_grad", r"\.optimizer_zero_grad$"),
    ("step-end hooks (on_train_batch_end)", r"\.on_train_batch_end$"),
    ("epoch-end hooks (on_train_epoch_end: epoch metrics)", r"\.on_train_epoch_end$"),
)
SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy")


def _attr(event: Any, *names: str) -> float:
    for name in names:
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def merge_intervals(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals covering the same time."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _length(intervals: Iterable[tuple[float, float]]) -> float:
    return sum(b - a for a, b in intervals)


def gpu_idle(busy: list[tuple[float, float]], window: tuple[float, float]) -> list[tuple[float, float]]:
    """The gaps of `busy` (merged) inside `window`."""
    gaps, cursor = [], window[0]
    for a, b in busy:
        if a > cursor:
            gaps.append((cursor, min(a, window[1])))
        cursor = max(cursor, b)
        if cursor >= window[1]:
            break
    if cursor < window[1]:
        gaps.append((cursor, window[1]))
    return [(a, b) for a, b in gaps if b > a]


def overlap(ranges: Iterable[tuple[float, float]], gaps: list[tuple[float, float]]) -> float:
    """Time of `gaps` (sorted, disjoint) that falls inside the union of `ranges`."""
    import bisect

    starts = [a for a, _ in gaps]
    total = 0.0
    for a, b in merge_intervals(ranges):
        i = max(0, bisect.bisect_right(starts, a) - 1)
        while i < len(gaps) and gaps[i][0] < b:
            total += max(0.0, min(b, gaps[i][1]) - max(a, gaps[i][0]))
            i += 1
    return total


def idle_by_part(
    host_ranges: dict[str, list[tuple[float, float]]],
    device_spans: list[tuple[float, float]],
    window: tuple[float, float],
) -> dict[str, float]:
    """Microseconds the GPU sat idle while the host was inside each labelled range (ranges may nest, so
    the figures overlap), plus the total idle time under "total"."""
    gaps = gpu_idle(merge_intervals(device_spans), window)
    out = {label: overlap(ranges, gaps) for label, ranges in host_ranges.items()}
    out["total"] = _length(gaps)
    return out


def profile_breakdown(prof: torch.profiler.profile, steps: int, wall_s: float) -> dict[str, Any]:
    """Per-step milliseconds of each part of a step, from the trace's ranges and device events."""
    averages = prof.key_averages()
    per_step = 1e-3 / steps  # us in the window -> ms per step
    host: dict[str, float] = {}
    device: dict[str, float] = {}
    for label, pattern in STEP_PARTS:
        rows = [a for a in averages if re.search(pattern, a.key)]
        host[label] = round(sum(_attr(a, "cpu_time_total") for a in rows) * per_step, 3)
        device[label] = round(
            sum(_attr(a, "device_time_total", "cuda_time_total") for a in rows) * per_step, 3
        )
    optimizer = "optimizer_step (incl. the two above)"
    host["optimizer update alone"] = round(
        host[optimizer] - host["forward + loss + metrics + log (training_step)"] - host["backward"], 3
    )
    window_ms = 1e3 * wall_s / steps
    accounted = sum(
        host[label]
        for label in (
            "wait for the next batch (loader fetch)",
            "host-to-device copy (transfer_batch_to_device)",
            "augmentation (on_after_batch_transfer)",
            optimizer,
            "zero_grad",
            "step-end hooks (on_train_batch_end)",
            "epoch-end hooks (on_train_epoch_end: epoch metrics)",
        )
    )
    host["rest of the loop (Lightning bookkeeping, logging, loader reset)"] = round(window_ms - accounted, 3)
    syncs = [a for a in averages if a.key in SYNC_CALLS]
    events = list(prof.events() or [])
    gpu = [e for e in events if str(getattr(e, "device_type", "")).endswith("CUDA")]
    cpu = [e for e in events if not str(getattr(e, "device_type", "")).endswith("CUDA")]
    spans = [(e.time_range.start, e.time_range.end) for e in gpu]
    copies_in = [e for e in gpu if e.name.startswith("Memcpy HtoD")]
    out: dict[str, Any] = {
        "steps": steps,
        "window_ms_per_step": round(window_ms, 3),
        "host_ms_per_step": host,
        "host_syncs_per_step": round(sum(a.count for a in syncs) / steps, 2),
        "host_sync_ms_per_step": round(sum(_attr(a, "cpu_time_total") for a in syncs) * per_step, 3),
        "host_sync_calls": {a.key: a.count for a in syncs},
    }
    if gpu and cpu:
        # The trace's window: from the first host event to the last (the closing device synchronisation).
        window = (min(e.time_range.start for e in cpu), max(e.time_range.end for e in cpu))
        busy = _length(merge_intervals(spans)) * per_step
        trace_ms = (window[1] - window[0]) * per_step
        out["device_ms_per_step_by_part"] = device
        out["gpu_busy_ms_per_step"] = round(busy, 3)
        out["gpu_busy_fraction"] = round(busy / trace_ms, 3) if trace_ms else None
        ranges = {
            label: [(e.time_range.start, e.time_range.end) for e in cpu if re.search(pattern, e.name)]
            for label, pattern in STEP_PARTS
        }
        ranges["host sync calls"] = [
            (e.time_range.start, e.time_range.end) for e in cpu if e.name in SYNC_CALLS
        ]
        idle = idle_by_part(ranges, spans, window)
        out["gpu_idle_ms_per_step"] = round(idle.pop("total") * per_step, 3)
        out["gpu_idle_ms_per_step_while_host_in"] = {k: round(v * per_step, 3) for k, v in idle.items()}
        out["h2d_copy_ms_per_step"] = round(sum(e.time_range.elapsed_us() for e in copies_in) * per_step, 3)
        out["h2d_copies"] = dict(Counter(e.name for e in copies_in))
    return out


def format_breakdown(name: str, info: dict[str, Any]) -> str:
    lines = [f"# {name}: {info['steps']} steps, {info['window_ms_per_step']:.2f} ms per step (wall)"]
    if "gpu_busy_ms_per_step" in info:
        lines.append(
            f"GPU busy {info['gpu_busy_ms_per_step']:.2f} ms per step ({100 * (info['gpu_busy_fraction'] or 0):.0f}% "
            f"of the traced time), idle {info['gpu_idle_ms_per_step']:.2f} ms; host-to-device copies on the GPU "
            f"{info['h2d_copy_ms_per_step']:.2f} ms per step {info['h2d_copies']}"
        )
        lines.append("GPU idle ms per step while the host was in (ranges nest, so these overlap):")
        lines += [
            f"  {label:<66} {value:>9.3f}"
            for label, value in info["gpu_idle_ms_per_step_while_host_in"].items()
        ]
    lines.append(
        f"host syncs: {info['host_syncs_per_step']} per step, {info['host_sync_ms_per_step']:.2f} ms per step "
        f"blocked {info['host_sync_calls']}"
    )
    lines.append(
        "host (CPU wall) ms per step by part"
        + (", device ms launched from it:" if "device_ms_per_step_by_part" in info else ":")
    )
    for label, value in info["host_ms_per_step"].items():
        device = info.get("device_ms_per_step_by_part", {}).get(label)
        lines.append(
            f"  {label:<66} {value:>9.3f}" + (f"   gpu {device:>8.3f}" if device is not None else "")
        )
    if info.get("sync_sites"):
        lines.append("synchronising calls in the window (torch.cuda.set_sync_debug_mode), by Python caller:")
        lines += [f"  {count:>5}  {site}" for site, count in info["sync_sites"].items()]
    return "\n".join(lines)


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
    _fit(cfg, replace(sizes, warmup=start, steps=steps), [window], what_if, profiler=TraceRanges())
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


# --- the report ------------------------------------------------------------------------------------


def format_table(results: list[Result]) -> str:
    lines = [
        f"{'stage':<8} {'source':<9} {'format':<6} {'loader':<8} {'workers':>7} {'prefetch':>8} {'batch':>5} "
        f"{'pipeline/s':>11} {'ceiling/s':>10} {'ratio':>6} {'step ms':>8} {'epoch-end +ms':>13}"
    ]
    for r in results:
        extra = r.periods.get("epoch_boundary_extra_ms")
        figures = (
            f"{r.pipeline_samples_per_s:>11.1f} {r.ceiling_samples_per_s:>10.1f} {r.ratio:>6.2f} "
            f"{r.periods.get('median_step_ms', float('nan')):>8.2f} "
            f"{'-' if extra is None else f'{extra:.1f}':>13}"
            if r.error is None
            else f"failed: {r.error[:80]}"
        )
        lines.append(
            f"{r.stage:<8} {r.source:<9} {r.cache_format:<6} {r.variant:<8} "
            f"{str(r.loader.get('num_workers', '-')):>7} {str(r.loader.get('prefetch_factor', '-')):>8} "
            f"{r.batch_size:>5} {figures}"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
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


def _result_json(r: Result) -> dict[str, Any]:
    return {**asdict(r), "ratio": r.ratio}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m harlit.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--stages", default="video,fusion,imu", help="comma-separated: video, fusion, imu")
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="synthetic",
        help="synthetic DataModule, or a "
        "generated UTD-MHAD tree through its video cache (see the module docstring)",
    )
    parser.add_argument(
        "--cache-format",
        choices=(*CACHE_FORMATS, "both"),
        default="both",
        help="--source cache: the clip cache format(s) to train from",
    )
    parser.add_argument(
        "--variants",
        default="old,new",
        help="--source cache: loader settings compared in the run: presets old (4 workers, "
        "prefetch 2), new (the config), what-ifs nosync, overlap (nosync + copy ahead on a side "
        "stream) and resident (nosync + clips in GPU memory), or "
        "NAME:num_workers=12:prefetch_factor=4[:what_if=nosync+h2d]",
    )
    parser.add_argument(
        "--tree-actions", type=int, default=len(CLASS_NAMES), help="generated tree: classes (1-27)"
    )
    parser.add_argument("--tree-trials", type=int, default=NUM_TRIALS, help="generated tree: trials (1-4)")
    parser.add_argument(
        "--tree-frames", type=int, default=TreeSpec.frames, help="generated tree: frames per video"
    )
    parser.add_argument("--tree-size", default="640x480", help="generated tree: WxH of the videos")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile N steps of each stage (and format; loader variant --profile-variant)",
    )
    parser.add_argument(
        "--what-if-formats",
        choices=("first", "all"),
        default="first",
        help="--source cache: the formats the what-if variants run on: first (the first of --cache-format, "
        "to save GPU time) or all",
    )
    parser.add_argument("--profile-variant", default="new", help="--source cache: the variant to profile")
    parser.add_argument("--trace", action="store_true", help="with --profile: also export Chrome traces")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--frames", type=int)
    parser.add_argument("--size", type=int, help="frame side in pixels")
    parser.add_argument(
        "--warmup", type=int, help="warm-up steps (--source cache: rounded up to whole epochs)"
    )
    parser.add_argument("--steps", type=int, help="timed steps (--source cache: rounded up to whole epochs)")
    parser.add_argument(
        "--epoch-batches",
        type=int,
        help="batches per epoch of the synthetic clip stages (default 12; more takes longer to render)",
    )
    logs = Path(os.environ.get("HARLIT_ROOT", ".")) / "logs" / "bench"
    parser.add_argument("--root", default=str(logs), help="scratch folder for the runs' outputs")
    parser.add_argument("--out", default=str(logs / "bench_results.json"), help="JSON file for the figures")
    args = parser.parse_args(argv)
    configure()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    on_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    sizes = GPU_SIZES if on_gpu else CPU_SIZES
    given = {
        "batch_size": args.batch_size,
        "num_frames": args.frames,
        "frame_size": args.size,
        "warmup": args.warmup,
        "steps": args.steps,
        "clip_batches_per_epoch": args.epoch_batches,
    }
    sizes = replace(sizes, **{k: v for k, v in given.items() if v is not None})
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown stage {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}")
    try:
        variants = parse_variants(args.variants)
        width, height = (int(v) for v in args.tree_size.lower().split("x"))
        spec = TreeSpec(args.tree_actions, args.tree_trials, args.tree_frames, width, height)
    except ValueError as err:
        parser.error(str(err))
    if not (1 <= spec.actions <= len(CLASS_NAMES) and 1 <= spec.trials <= NUM_TRIALS and spec.frames >= 1):
        parser.error(f"--tree-actions 1-{len(CLASS_NAMES)}, --tree-trials 1-{NUM_TRIALS}, --tree-frames >= 1")
    if args.profile and args.source == "cache" and args.profile_variant not in variants:
        parser.error(f"--profile-variant {args.profile_variant!r} is not among --variants")
    formats = list(CACHE_FORMATS) if args.cache_format == "both" else [args.cache_format]
    root = Path(args.root).resolve()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "device": "cuda" if on_gpu else "cpu",
        "machine": machine(),
        "source": args.source,
        "command": "python -m harlit.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sizes": asdict(sizes),
        "results": [],
    }

    def save() -> None:
        report["results"] = [_result_json(r) for r in report.get("_results", [])]
        out.write_text(json.dumps({k: v for k, v in report.items() if k != "_results"}, indent=2))

    if args.source == "cache":
        report["formats"] = formats
        report["variants"] = variants
        what_if_formats = formats[:1] if args.what_if_formats == "first" else formats
        report["what_if_formats"] = what_if_formats
        results = run_cache_bench(
            stages, sizes, on_gpu, root, spec, formats, variants, report, save, what_if_formats
        )
    else:
        results = run_bench(stages, sizes, on_gpu, root)
        report["_results"] = results
    save()
    table = format_table(results)
    print(table)

    if args.profile:
        profiles = report.setdefault("profiles", [])
        for stage in stages:
            stage_sizes = sizes.for_stage(stage)
            if args.source == "cache":
                tree = Path(report["tree"]["folder"])
                stage_sizes = stage_sizes.in_whole_epochs(
                    steps_per_epoch(spec.train_samples, stage_sizes.batch_size)
                )
                settings = variants[args.profile_variant]
                jobs = [
                    (
                        f"cache_{stage}_{fmt}_{args.profile_variant}"
                        if stage != "imu"
                        else f"cache_imu_{args.profile_variant}",
                        cache_stage_config(
                            stage, stage_sizes, on_gpu, root, tree, fmt, settings, f"profile-{stage}-{fmt}"
                        ),
                    )
                    for fmt in (formats if stage != "imu" else formats[:1])
                ]
                what_if = settings.get("what_if")
            else:
                jobs = [(f"synthetic_{stage}", stage_config(stage, stage_sizes, on_gpu, root))]
                what_if = None
            for name, cfg in jobs:
                try:
                    offset = 2 if args.source == "cache" else 0  # mid-epoch, past the new epoch's first batch
                    info = profile_stage(
                        cfg, stage_sizes, args.profile, on_gpu, out.parent, name, args.trace, offset, what_if
                    )
                    profiles.append({"name": name, "loader": loader_settings(cfg), **info})
                except Exception as err:
                    log.error("profile %s failed:\n%s", name, traceback.format_exc())
                    profiles.append({"name": name, "error": f"{type(err).__name__}: {str(err)[:300]}"})
                save()
        (out.parent / "profiles.json").write_text(json.dumps(profiles, indent=2))
    save()
    print(f"wrote {out}")
    return {k: v for k, v in json.loads(out.read_text()).items()}


if __name__ == "__main__":
    main()
