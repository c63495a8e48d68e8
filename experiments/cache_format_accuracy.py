"""Does the JPEG video cache change accuracy? The synthetic task written to files, trained from each cache format.

The embedded synthetic dataset renders clips in memory and never goes through the video cache, so this
writes the same generator's samples to disk (H.264 .mp4 + IMU .npy + a manifest CSV, odd subjects train,
even subjects test) and trains stage 1 video from it through `data=manifest`, once per cache format and
seed. Only `data.cache_format` differs between the two arms: same files, frames, sizes and seeds.

    experiments/cache_format_accuracy.sh OUT      # all of it: the dataset, 12 runs, both reports

which runs, for each label set (manifest.csv: 12 classes; manifest_scene.csv: 3 scenes):

    python experiments/cache_format_accuracy.py make OUT/data      # write the dataset
    for s in 0 1 2; do for fmt in uint8 jpeg; do
      python -m harlit.run +experiment=synthetic_stage1_video data=manifest \\
        data.manifest=OUT/data/manifest.csv data.num_frames=8 data.frame_size=32 data.prepare_workers=1 \\
        data.cache_format=$fmt seed=$s trainer.enable_progress_bar=false logger=csv \\
        paths.root_dir=OUT/root_classes hydra.run.dir=OUT/runs_classes/$fmt-$s
    done; done
    python experiments/cache_format_accuracy.py report OUT/runs_classes   # top-1 mean ± std per format
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from harlit.data.synthetic import CLASS_NAMES, SCENES, subject_style, synth_clip, synth_imu  # noqa: E402

SOURCE_SIZE = 64  # pixels of the written videos (decoded and resized to data.frame_size by the cache)
SOURCE_FRAMES = 30  # frames per written video, spread over the generator's 2-4 s clip


def write_mp4(path: Path, clip: np.ndarray, fps: int = 15) -> None:
    """A (3, T, H, W) uint8 clip as a near-lossless H.264 file (CRF 12)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = clip.shape[3], clip.shape[2], "yuv420p"
        for frame in clip.transpose(1, 2, 3, 0):
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make(out: Path, num_subjects: int, repetitions: int, generator_seed: int) -> None:
    """The synthetic dataset's samples (same generator and per-sample random streams) as files + manifest."""
    (out / "video").mkdir(parents=True, exist_ok=True)
    (out / "imu").mkdir(parents=True, exist_ok=True)
    rows = []
    for subject in range(1, num_subjects + 1):
        style = subject_style(generator_seed, subject)
        for cls, name in enumerate(CLASS_NAMES):
            motion, scene = divmod(cls, len(SCENES))
            for rep in range(repetitions):
                rng = np.random.default_rng([generator_seed, subject, cls, rep])
                sample = f"s{subject}_{name}_r{rep}"
                np.save(out / "imu" / f"{sample}.npy", synth_imu(motion, style, rng))
                write_mp4(
                    out / "video" / f"{sample}.mp4", synth_clip(scene, style, rng, SOURCE_FRAMES, SOURCE_SIZE)
                )
                split = "train" if subject % 2 == 1 else "test"
                rows.append([f"video/{sample}.mp4", f"imu/{sample}.npy", name, subject, split, sample])
    # manifest.csv: the 12 classes (video alone sees only the scene, so top-1 is capped near 1/4);
    # manifest_scene.csv: the scene as the label, which video alone can see (3 classes).
    for manifest, label in (("manifest.csv", lambda n: n), ("manifest_scene.csv", lambda n: n.split("_")[1])):
        with open(out / manifest, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["video", "imu", "label", "subject", "split", "id"])
            writer.writerows([[v, i, label(n), s, sp, sid] for v, i, n, s, sp, sid in rows])
    print(f"{len(rows)} samples under {out}: manifest.csv (12 classes), manifest_scene.csv (3 scenes)")


def report(runs: Path) -> None:
    """Top-1 of each run folder `<format>-<seed>` (its metrics.json), then mean ± std per format."""
    by_format: dict[str, list[float]] = {}
    print("| run | test top-1 |")
    print("|---|---|")
    for metrics in sorted(runs.glob("*/metrics.json")):
        fmt = metrics.parent.name.rsplit("-", 1)[0]
        top1 = float(json.loads(metrics.read_text())["test/top1"])
        by_format.setdefault(fmt, []).append(top1)
        print(f"| {metrics.parent.name} | {top1:.4f} |")
    print("\n| cache format | runs | test top-1 mean ± std |")
    print("|---|---|---|")
    for fmt, values in sorted(by_format.items()):
        std = statistics.stdev(values) if len(values) > 1 else float("nan")
        print(f"| {fmt} | {len(values)} | {statistics.mean(values):.4f} ± {std:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    maker = commands.add_parser("make", help="write the file-based synthetic dataset")
    maker.add_argument("out", type=Path)
    maker.add_argument("--num-subjects", type=int, default=8)
    maker.add_argument("--repetitions", type=int, default=4)
    maker.add_argument("--generator-seed", type=int, default=0)
    reporter = commands.add_parser("report", help="summarise the runs")
    reporter.add_argument("runs", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        make(args.out, args.num_subjects, args.repetitions, args.generator_seed)
    else:
        report(args.runs)


if __name__ == "__main__":
    main()
