"""`python -m harlit.bench`: training throughput of the real pipeline next to the model-only ceiling.

For stage-1 video, stage 2 (fusion) and stage-1 IMU it measures, in one run:

* pipeline: samples/s of `Trainer.fit` steps through the real DataModule (synthetic data, uint8
  clips), LightningModule and Trainer, built from the same Hydra config as a training run
  (`trainer=gpu` on a GPU, `trainer=cpu` otherwise);
* ceiling: samples/s of the same model and batch size on synthetic tensors already on the device,
  in a bare forward/backward/step loop with the same precision and memory format.

It prints a table with pipeline / ceiling and writes JSON. On a GPU the sizes are harlit's UTD/MMAct
clip size (16 frames of 224x224); on a CPU they are small (8 frames of 32x32) so it finishes in a minute or two.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, open_dict

from harlit.build import build_datamodule, build_model, build_trainer
from harlit.config import compose_config, instantiate
from harlit.models.classifier import MODALITIES_OF
from harlit.startup import configure

log = logging.getLogger(__name__)

EXPERIMENTS = {"video": "synthetic_stage1_video", "fusion": "synthetic_stage2", "imu": "synthetic_stage1_imu"}


@dataclass
class Sizes:
    batch_size: int
    num_frames: int
    frame_size: int
    imu_length: int
    warmup: int
    steps: int
    clip_batches_per_epoch: int = 12  # clip stages loop over a short epoch; see stage_config
    imu_batch_size: int = 32  # the IMU stage trains at batch 32; its steps are cheap, so it takes 5x more

    def for_stage(self, stage: str) -> Sizes:
        if stage != "imu":
            return self
        return Sizes(
            **{
                **asdict(self),
                "batch_size": self.imu_batch_size,
                "warmup": 5 * self.warmup,
                "steps": 5 * self.steps,
            }
        )


GPU_SIZES = Sizes(batch_size=16, num_frames=16, frame_size=224, imu_length=128, warmup=10, steps=40)
CPU_SIZES = Sizes(batch_size=4, num_frames=8, frame_size=32, imu_length=128, warmup=2, steps=6)


@dataclass
class Result:
    stage: str
    batch_size: int
    pipeline_samples_per_s: float
    ceiling_samples_per_s: float

    @property
    def ratio(self) -> float:
        return self.pipeline_samples_per_s / self.ceiling_samples_per_s


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(pl.Callback):
    """Wall time of the training steps after `warmup`, synchronised with the device."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end: float | None = None
        self.timed_steps = 0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            _synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.start is not None:
            self.timed_steps += 1

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _synchronize(pl_module.device)
        self.end = time.perf_counter()


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


def measure_pipeline(cfg: DictConfig, sizes: Sizes) -> float:
    pl.seed_everything(0, verbose=False)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    # Stage 2 with randomly initialised encoders: the same compute as with stage-1 weights.
    model = build_model(cfg, datamodule.num_classes)
    timer = StepTimer(sizes.warmup)
    callbacks = [timer]
    if cfg.get("callbacks") and cfg.callbacks.get("device_resident"):
        callbacks.append(instantiate(cfg.callbacks.device_resident))
    trainer = build_trainer(
        cfg,
        model,
        datamodule,
        callbacks=callbacks,
        plugins=None,
        max_steps=sizes.warmup + sizes.steps,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
    )
    trainer.fit(model, datamodule=datamodule)
    if timer.start is None or timer.end is None or timer.timed_steps == 0:
        raise RuntimeError("the benchmark run ended before its timed steps")
    return timer.timed_steps * sizes.batch_size / (timer.end - timer.start)


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
    device = torch.device("cuda" if on_gpu else "cpu")
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    results = []
    for stage in stages:
        stage_sizes = sizes.for_stage(stage)
        cfg = stage_config(stage, stage_sizes, on_gpu, root)
        log.info("bench %s: pipeline", stage)
        pipeline = measure_pipeline(cfg, stage_sizes)
        log.info("bench %s: ceiling", stage)
        ceiling = measure_ceiling(cfg, stage_sizes, 12, device)
        results.append(Result(stage, stage_sizes.batch_size, pipeline, ceiling))
    return results


def format_table(results: list[Result]) -> str:
    lines = [f"{'stage':<8} {'batch':>5} {'pipeline/s':>11} {'ceiling/s':>10} {'ratio':>6}"]
    lines += [
        f"{r.stage:<8} {r.batch_size:>5} {r.pipeline_samples_per_s:>11.1f} {r.ceiling_samples_per_s:>10.1f} "
        f"{r.ratio:>6.2f}"
        for r in results
    ]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "host": platform.node(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m harlit.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--stages", default="video,fusion,imu", help="comma-separated: video, fusion, imu")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--frames", type=int)
    parser.add_argument("--size", type=int, help="frame side in pixels")
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument(
        "--epoch-batches",
        type=int,
        help="batches per epoch of the clip stages (default 12; more takes longer to render)",
    )
    logs = Path(os.environ.get("HARLIT_ROOT", ".")) / "logs" / "bench"
    parser.add_argument("--root", default=str(logs), help="scratch folder for the runs' outputs")
    parser.add_argument("--out", default=str(logs / "bench_results.json"), help="JSON file for the figures")
    args = parser.parse_args(argv)
    configure()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    on_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    sizes = GPU_SIZES if on_gpu else CPU_SIZES
    sizes = Sizes(
        **{
            **asdict(sizes),
            **{
                k: v
                for k, v in {
                    "batch_size": args.batch_size,
                    "num_frames": args.frames,
                    "frame_size": args.size,
                    "warmup": args.warmup,
                    "steps": args.steps,
                    "clip_batches_per_epoch": args.epoch_batches,
                }.items()
                if v is not None
            },
        }
    )
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown stage {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}")
    results = run_bench(stages, sizes, on_gpu, Path(args.root).resolve())
    table = format_table(results)
    print(table)
    report = {
        "device": "cuda" if on_gpu else "cpu",
        "machine": machine(),
        "sizes": asdict(sizes),
        "results": [{**asdict(r), "ratio": r.ratio} for r in results],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
