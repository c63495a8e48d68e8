"""Benchmark (not a test): one training epoch of video batches from the decode-once cache vs. decoding on the fly.

Both loaders read the same samples with the same batch size, frames and resize settings; only the
VideoSource differs (memory-mapped .npy clips vs. PyAV decoding every clip on each access). By default it
writes a UTD-MHAD-like tree first (640x480 .avi, ~3 s at 15 fps); `--root` points at a real one instead.

    .venv/bin/python -m experiments.bench_cache                  # generated tree, 48 clips
    .venv/bin/python -m experiments.bench_cache --root /data/utd_mhad --limit 100
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from harlit.data.utd_mhad import UTDMHADDataModule
from tests.data_fixtures import write_video


def make_tree(root: Path, clips: int, frames: int) -> None:
    """UTD-MHAD layout, clips of training subjects 1 and 3 (one epoch reads them all); no IMU needed."""
    for i in range(clips):
        action, subject, trial = 1 + i % 27, 1 + (i // 27) % 2 * 2, 1 + i // 54
        write_video(root / "RGB" / f"a{action}_s{subject}_t{trial}_color.avi", frames, 640, 480, seed=i)


def one_epoch(datamodule: UTDMHADDataModule) -> tuple[float, int]:
    """Seconds for one pass over the training loader, and the number of clips it produced."""
    loader = datamodule.train_dataloader()
    start = time.perf_counter()
    seen = 0
    for batch in loader:
        seen += int(batch["video"].shape[0])
        batch["video"].float().mean()  # touch the data, as a training step would
    return time.perf_counter() - start, seen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=None, help="a UTD-MHAD tree; default: generate one")
    parser.add_argument("--clips", type=int, default=48, help="clips to generate (without --root)")
    parser.add_argument("--frames", type=int, default=45, help="frames per generated clip (UTD: 32-96)")
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--frame-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory(prefix="harlit_bench_") as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / "utd_mhad"
            make_tree(root, args.clips, args.frames)
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


if __name__ == "__main__":
    main()
