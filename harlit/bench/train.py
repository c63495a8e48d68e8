"""`python -m harlit.bench train`: training throughput of the real pipeline next to the model-only ceiling.

For stage-1 video, stage 2 (fusion) and stage-1 IMU it measures, in one run:

* pipeline: samples/s of `Trainer.fit` steps through the real DataModule, LightningModule and Trainer,
  built from the same Hydra config as a training run (`hardware=gpu` on a GPU, `trainer=cpu` otherwise);
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
  and so can what-ifs (harlit.bench.what_ifs, each awaiting a GPU measurement), bench-only patches that
  tell what a change not made yet would gain: `nosync` (the training step's host syncs taken out),
  `overlap` (that, and each batch copied to the GPU on a side stream while the step before it runs) and
  `resident` (nosync, and the training clips held in GPU memory); what-ifs run on the first cache format
  only unless `--what-if-formats all`.

`--profile N` runs N steps of each stage under `torch.profiler` after the warm-up and writes, beside
`--out`, the operator table and a per-step breakdown: loader wait, host-to-device copy, augmentation,
forward, backward, optimizer, host syncs, GPU busy time (`profile_*.txt`, `profiles.json`).

It prints a table with pipeline / ceiling and writes JSON (rewritten after every measurement, so a run
cut short keeps what it measured). On a GPU the sizes are harlit's UTD/MMAct clip size (16 frames of
224x224); on a CPU they are small (8 frames of 32x32) so it finishes in a minute or two.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from harlit.bench.generated.utd import TreeSpec
from harlit.bench.machine import machine
from harlit.bench.profiling import CacheProfile, profile_stages
from harlit.bench.tables import format_table
from harlit.bench.train_config import (
    CACHE_FORMATS,
    CPU_SIZES,
    EXPERIMENTS,
    GPU_SIZES,
    SOURCES,
    VARIANTS_HELP,
    Result,
    parse_variants,
)
from harlit.bench.train_runs import run_bench, run_cache_bench
from harlit.bench.what_ifs import AWAITING
from harlit.data.utd_mhad import CLASS_NAMES, NUM_TRIALS
from harlit.errors import HarlitError
from harlit.startup import configure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--stages", default="video,fusion,imu", help="comma-separated: video, fusion, imu")
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="synthetic",
        help="synthetic DataModule, or a generated UTD-MHAD tree through its video cache (see above)",
    )
    parser.add_argument(
        "--cache-format",
        choices=(*CACHE_FORMATS, "both"),
        default="both",
        help="--source cache: the clip cache format(s) to train from",
    )
    parser.add_argument("--variants", default="old,new", help=VARIANTS_HELP)
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
        help=f"--source cache: the formats the what-if variants ({AWAITING}) run on: first (the first of "
        "--cache-format, to save GPU time) or all",
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


def tree_spec(args: argparse.Namespace) -> TreeSpec:
    """The generated tree of `--tree-*`; HarlitError when they are out of range."""
    try:
        width, height = (int(v) for v in args.tree_size.lower().split("x"))
    except ValueError:
        raise HarlitError(f"--tree-size {args.tree_size!r} is not WxH, e.g. 640x480.") from None
    spec = TreeSpec(args.tree_actions, args.tree_trials, args.tree_frames, width, height)
    if not (1 <= spec.actions <= len(CLASS_NAMES) and 1 <= spec.trials <= NUM_TRIALS and spec.frames >= 1):
        raise HarlitError(
            f"--tree-actions must be 1-{len(CLASS_NAMES)}, --tree-trials 1-{NUM_TRIALS} and --tree-frames >= 1."
        )
    return spec


def _result_json(r: Result) -> dict[str, Any]:
    return {**asdict(r), "ratio": r.ratio}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, print the table, write the JSON (and the profiles); returns the JSON's content. The JSON
    records `args.command_line`, the command as given."""
    configure()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    on_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    given = {
        "batch_size": args.batch_size,
        "num_frames": args.frames,
        "frame_size": args.size,
        "warmup": args.warmup,
        "steps": args.steps,
        "clip_batches_per_epoch": args.epoch_batches,
    }
    sizes = replace(GPU_SIZES if on_gpu else CPU_SIZES, **{k: v for k, v in given.items() if v is not None})
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in EXPERIMENTS]
    if unknown:
        raise HarlitError(f"unknown stage {unknown[0]!r} in --stages; choose from {', '.join(EXPERIMENTS)}.")
    try:
        variants = parse_variants(args.variants)
    except ValueError as err:
        raise HarlitError(f"--variants: {err}.") from None
    spec = tree_spec(args)
    if args.profile and args.source == "cache" and args.profile_variant not in variants:
        raise HarlitError(f"--profile-variant {args.profile_variant!r} is not among --variants.")
    formats = list(CACHE_FORMATS) if args.cache_format == "both" else [args.cache_format]
    root = Path(args.root).resolve()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "device": "cuda" if on_gpu else "cpu",
        "machine": machine(),
        "source": args.source,
        "command": args.command_line,
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
    print(format_table(results))

    if args.profile:
        profiles = report.setdefault("profiles", [])
        cache = None
        if args.source == "cache":
            variant = args.profile_variant
            cache = CacheProfile(Path(report["tree"]["folder"]), spec, formats, variant, variants[variant])
        profile_stages(
            stages, sizes, on_gpu, root, out.parent, args.profile, args.trace, profiles, save, cache
        )
        (out.parent / "profiles.json").write_text(json.dumps(profiles, indent=2))
    save()
    print(f"wrote {out}")
    return dict(json.loads(out.read_text()))
