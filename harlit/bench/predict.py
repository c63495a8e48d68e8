"""`python -m harlit.bench predict`: prediction throughput on this machine.

Three figures, each through `harlit.load_model` and the files a user would give:
1. the demo's fusion model (8 frames of 32x32, `--demo-run`) on generated UTD-MHAD-shaped pairs: pairs/s;
2. a full-size fusion model (S3D at 16 frames of 224x224, the UTD setting; random weights, the same
   compute) on the same pairs: clips/s;
3. the wall time of `python -m harlit.predict` on one UTD pair with the full-size model, start-up included.
Pairs are 640x480 .avi clips (2 s at 15 fps, as UTD-MHAD's) with real-format .mat inertial files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from harlit.bench.generated.utd import make_utd_tree
from harlit.build import build_model
from harlit.config import compose_config
from harlit.trained import load_model, save_model_file


def full_size_model(folder: Path) -> Path:
    """A 16x224 UTD fusion model file with random weights and a UTD preprocessing record."""
    cfg = compose_config(
        ["+experiment=utd_stage2", "model.video.pretrained=none", f"paths.output_dir={folder}"]
    )
    torch.manual_seed(0)
    classifier = build_model(cfg, 27, [f"a{i}" for i in range(1, 28)])
    classifier.preprocessing = {
        "dataset": "utd_mhad",
        "imu": {
            "channels": 6,
            "devices": [[0, 1, 2, 3, 4, 5]],
            "length": 96,
            "mean": [0.0] * 6,
            "std": [1.0] * 6,
        },
        "video": {"num_frames": 16, "frame_size": 224, "resize": "squash"},
    }
    path = folder / "model.pt"
    save_model_file(path, classifier, cfg)
    return path


def throughput(model_path: Path, pairs: list[tuple[Path, Path]], batch_size: int) -> tuple[float, float]:
    """(pairs/s including decoding and preprocessing, pairs/s of the forward passes alone)."""
    model = load_model(model_path)
    model.predict(video=pairs[0][0], imu=pairs[0][1])  # warm-up
    start = time.perf_counter()
    forward = 0.0
    for i in range(0, len(pairs), batch_size):
        batches = [model.prepare(video=v, imu=m) for v, m in pairs[i : i + batch_size]]
        stacked = {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
        t0 = time.perf_counter()
        model.predict_batch(stacked)
        forward += time.perf_counter() - t0
    total = time.perf_counter() - start
    return len(pairs) / total, len(pairs) / forward


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo-run", type=Path, help="the demo's synthetic_stage2 run directory (make demo)")
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)


def run(args: argparse.Namespace) -> None:
    print(f"torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # UTD-MHAD's 640x480 clips of 30 frames (2 s at 15 fps).
        utd = root / "utd"
        ids = make_utd_tree(
            utd,
            actions=range(1, 1 + args.pairs // 2),
            subjects=[1],
            trials=[1, 2],
            frames=30,
            size=(640, 480),
        )
        pairs = [(utd / "RGB" / f"{s}_color.avi", utd / "Inertial" / f"{s}_inertial.mat") for s in ids]
        if args.demo_run:
            total, forward = throughput(args.demo_run, pairs, args.batch_size)
            print(
                f"demo fusion model (8x32x32): {total:.1f} pairs/s end to end, {forward:.1f} pairs/s forward only"
            )
        big = full_size_model(root / "big")
        total, forward = throughput(big, pairs[: max(4, args.pairs // 4)], args.batch_size)
        print(
            f"full-size fusion model (16x224x224): {total:.2f} clips/s end to end, {forward:.2f} clips/s forward only"
        )
        video, imu = pairs[0]
        start = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "harlit.predict",
                f"model_path={big}",  # the config key itself, which every harlit.predict reads
                f"video={video}",
                f"imu={imu}",
                f"hydra.run.dir={root / 'predict'}",
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(result.stderr[-2000:])
        print(
            f"python -m harlit.predict, one UTD pair, full-size model: {wall:.1f} s wall time, start-up included"
        )
