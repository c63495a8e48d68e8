"""The training benchmark's measurements: pipeline runs through the real Trainer, the model-only ceiling,
the video caches of the cache source, and the loops over stages, formats and loader variants."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from pytorch_lightning.profilers import Profiler

from harlit.bench.generated.utd import TreeSpec, build_utd_tree
from harlit.bench.timing import StepTimer, synchronize
from harlit.bench.train_config import (
    Result,
    Sizes,
    cache_runs,
    cache_stage_config,
    loader_settings,
    stage_config,
    steps_per_epoch,
)
from harlit.bench.what_ifs import apply_what_ifs
from harlit.build import build_datamodule, build_model, build_trainer
from harlit.config import instantiate
from harlit.data.utd_mhad import CLASS_NAMES
from harlit.models.classifier import MODALITIES_OF

log = logging.getLogger(__name__)


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


def fit(
    cfg: DictConfig,
    sizes: Sizes,
    callbacks: list[pl.Callback],
    what_if: str | None = None,
    profiler: Profiler | None = None,
) -> pl.Trainer:
    """`Trainer.fit` of `cfg` for `warmup + steps + 1` steps, no validation, with the what-ifs applied."""
    pl.seed_everything(0, verbose=False)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    # Stage 2 with randomly initialised encoders: the same compute as with stage-1 weights.
    model = build_model(cfg, datamodule.num_classes)
    device = torch.device("cuda" if cfg.trainer.get("accelerator") == "gpu" else "cpu")
    apply_what_ifs(what_if, model, datamodule, device)
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
    fit(cfg, sizes, [timer], what_if)
    if timer.start is None or timer.end is None or timer.timed_steps == 0:
        raise RuntimeError("the benchmark run ended before its timed steps")
    samples = timer.samples or timer.timed_steps * sizes.batch_size
    return samples / (timer.end - timer.start), timer.periods()


def measure_pipeline(cfg: DictConfig, sizes: Sizes, what_if: str | None = None) -> float:
    return measure_pipeline_periods(cfg, sizes, what_if)[0]


def synthetic_batch(
    cfg: DictConfig, sizes: Sizes, num_classes: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """A batch of random inputs of the config's modalities, already on `device`."""
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
    """Samples/s of a bare forward/backward/step loop of the same model on one batch already on the device."""
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
    synchronize(device)
    start = time.perf_counter()
    for _ in range(sizes.steps):
        step()
    synchronize(device)
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
