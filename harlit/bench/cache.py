"""`python -m harlit.bench cache`: the video cache's training-side figures.

* `cache epoch`: one training epoch of video batches from the decode-once cache vs. decoding on the fly.
  Both loaders read the same samples with the same batch size, frames and resize settings; only the
  VideoSource differs (memory-mapped .npy clips vs. PyAV decoding every clip on each access). By default
  it writes a UTD-MHAD-like tree first (640x480 .avi, ~3 s at 15 fps); `--root` points at a real one.
* `cache make-data OUT` and `cache report RUNS`: does the JPEG cache change accuracy? `make-data` writes
  the synthetic task to files (H.264 .mp4 + IMU .npy + a manifest CSV, odd subjects train, even subjects
  test); experiments/cache_format_accuracy.sh trains stage 1 video from it through `data=manifest`, once
  per cache format and seed (only `data.cache_format` differs between the arms); `report` gives the
  top-1 of each run and the mean ± std per format.

    python -m harlit.bench cache epoch                           # generated tree, 48 clips
    python -m harlit.bench cache epoch --root /data/utd_mhad
    experiments/cache_format_accuracy.sh OUT                     # dataset, 12 runs, both reports
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from harlit.bench.generated.synthetic_files import make_synthetic_files
from harlit.bench.generated.utd import TEST_SAMPLE
from harlit.bench.generated.videos import write_video
from harlit.bench.tables import markdown_header, markdown_row, markdown_table
from harlit.data.utd_mhad import UTDMHADDataModule


def make_epoch_tree(root: Path, clips: int, frames: int) -> None:
    """UTD-MHAD layout, clips of training subjects 1 and 3 (one epoch reads them all), plus one clip of a
    test subject, which the split needs and the epoch never reads; no IMU needed."""
    for i in range(clips):
        action, subject, trial = 1 + i % 27, 1 + (i // 27) % 2 * 2, 1 + i // 54
        write_video(root / "RGB" / f"a{action}_s{subject}_t{trial}_color.avi", frames, 640, 480, seed=i)
    action, subject, trial = TEST_SAMPLE  # action 1 is trained: its first clip
    write_video(root / "RGB" / f"a{action}_s{subject}_t{trial}_color.avi", frames, 640, 480, seed=clips)


def one_epoch(datamodule: UTDMHADDataModule) -> tuple[float, int]:
    """Seconds for one pass over the training loader, and the number of clips it produced."""
    loader = datamodule.train_dataloader()
    start = time.perf_counter()
    seen = 0
    for batch in loader:
        seen += int(batch["video"].shape[0])
        batch["video"].float().mean()  # touch the data, as a training step would
    return time.perf_counter() - start, seen


def run_epoch(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="harlit_bench_") as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / "utd_mhad"
            make_epoch_tree(root, args.clips, args.frames)
        common = {
            "root": str(root),
            "modalities": ["video"],
            "num_frames": args.num_frames,
            "frame_size": args.frame_size,
            "batch_size": args.batch_size,
            "num_workers": args.num_workers,
            "cache_dir": str(Path(tmp) / "cache"),
            "train_subjects": [1, 3, 5, 7],
            "test_subjects": [2, 4, 6, 8],
        }

        cached = UTDMHADDataModule(**common)
        start = time.perf_counter()
        cached.prepare_data()  # the one-off decode, reported separately
        prepare_s = time.perf_counter() - start
        cached.setup("fit")
        cached_s, cached_n = one_epoch(cached)

        on_the_fly = UTDMHADDataModule(video_cache=False, **common)
        on_the_fly.setup("fit")
        fly_s, fly_n = one_epoch(on_the_fly)

    assert cached_n == fly_n, "both loaders must read the same epoch"
    print(
        f"clips per epoch: {cached_n} ({args.num_frames} frames of {args.frame_size}x{args.frame_size}, "
        f"batch {args.batch_size}, {args.num_workers} loader workers)"
    )
    print(f"one-off cache build (decode all clips once): {prepare_s:.2f} s")
    print(f"epoch from the cache:      {cached_s:.3f} s ({cached_n / cached_s:.1f} clips/s)")
    print(f"epoch decoding on the fly: {fly_s:.3f} s ({fly_n / fly_s:.1f} clips/s)")
    print(f"speed-up: {fly_s / cached_s:.1f}x (goal >= 5x)")


def run_make_data(args: argparse.Namespace) -> None:
    count = make_synthetic_files(args.out, args.num_subjects, args.repetitions, args.generator_seed)
    print(f"{count} samples under {args.out}: manifest.csv (12 classes), manifest_scene.csv (3 scenes)")


def run_report(args: argparse.Namespace) -> None:
    """Top-1 of each run folder `<format>-<seed>` (its metrics.json), then mean ± std per format."""
    by_format: dict[str, list[float]] = {}
    print(markdown_header(["run", "test top-1"]))
    for metrics in sorted(args.runs.glob("*/metrics.json")):
        fmt = metrics.parent.name.rsplit("-", 1)[0]
        top1 = float(json.loads(metrics.read_text())["test/top1"])
        by_format.setdefault(fmt, []).append(top1)
        print(markdown_row([metrics.parent.name, f"{top1:.4f}"]))
    rows = []
    for fmt, values in sorted(by_format.items()):
        std = statistics.stdev(values) if len(values) > 1 else float("nan")
        rows.append([fmt, len(values), f"{statistics.mean(values):.4f} ± {std:.4f}"])
    print("\n" + markdown_table(["cache format", "runs", "test top-1 mean ± std"], rows))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{epoch,make-data,report}")
    epoch = actions.add_parser("epoch", help="one epoch from the cache vs. decoding on the fly")
    epoch.add_argument("--root", type=Path, default=None, help="a UTD-MHAD tree; default: generate one")
    epoch.add_argument("--clips", type=int, default=48, help="clips to generate (without --root)")
    epoch.add_argument("--frames", type=int, default=45, help="frames per generated clip (UTD: 32-96)")
    epoch.add_argument("--num-frames", type=int, default=16)
    epoch.add_argument("--frame-size", type=int, default=112)
    epoch.add_argument("--batch-size", type=int, default=8)
    epoch.add_argument("--num-workers", type=int, default=0)
    epoch.set_defaults(cache_action=run_epoch)
    maker = actions.add_parser("make-data", help="write the synthetic task as files with a manifest")
    maker.add_argument("out", type=Path)
    maker.add_argument("--num-subjects", type=int, default=8)
    maker.add_argument("--repetitions", type=int, default=4)
    maker.add_argument("--generator-seed", type=int, default=0)
    maker.set_defaults(cache_action=run_make_data)
    reporter = actions.add_parser("report", help="top-1 per cache format of the runs under RUNS")
    reporter.add_argument("runs", type=Path)
    reporter.set_defaults(cache_action=run_report)


def run(args: argparse.Namespace) -> None:
    args.cache_action(args)
