"""The synthetic dataset written to files: H.264 .mp4 + IMU .npy + manifest CSVs, for `data=manifest`.

The embedded synthetic dataset renders clips in memory and never goes through the video cache; these
files carry the same generator's samples (same per-sample random streams) through it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from harlit.bench.generated.videos import write_clip_video
from harlit.data.synthetic import CLASS_NAMES, SCENES, subject_style, synth_clip, synth_imu

SOURCE_SIZE = 64  # pixels of the written videos (decoded and resized to data.frame_size by the cache)
SOURCE_FRAMES = 30  # frames per written video, spread over the generator's 2-4 s clip


def make_synthetic_files(out: Path, num_subjects: int, repetitions: int, generator_seed: int) -> int:
    """Write every sample (odd subjects train, even subjects test) and two manifests; returns the count.

    manifest.csv labels the 12 classes (video alone sees only the scene, so its top-1 is capped near
    1/4); manifest_scene.csv labels the scene, which video alone can see (3 classes).
    """
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
                clip = synth_clip(scene, style, rng, SOURCE_FRAMES, SOURCE_SIZE)
                write_clip_video(out / "video" / f"{sample}.mp4", clip)
                split = "train" if subject % 2 == 1 else "test"
                rows.append([f"video/{sample}.mp4", f"imu/{sample}.npy", name, subject, split, sample])
    for manifest, label in (("manifest.csv", lambda n: n), ("manifest_scene.csv", lambda n: n.split("_")[1])):
        with open(out / manifest, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["video", "imu", "label", "subject", "split", "id"])
            writer.writerows([[v, i, label(n), s, sp, sid] for v, i, n, s, sp, sid in rows])
    return len(rows)
