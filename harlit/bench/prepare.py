"""`python -m harlit.bench prepare`: building the video cache, on the real MMAct sample clip and a generated MMAct tree.

Everything runs on one core (one decoder thread, one torch thread) unless said otherwise, and the three
ways of turning a video into a clip are timed in the same run, interleaved, so their ratio holds even on
a busy machine:

* decode only: decode every frame, convert none (the floor any clip decoder pays);
* old: decode every frame and convert/resize every frame, then choose (the decoder before this change);
* new: `decode_clip`, decode every frame, convert/resize only the chosen ones.

It also times a whole cache write per format (decode + encode + atomic write), measures the cached clip
per format (MB, JPEG error, read time warm and after evicting the file from the page cache), builds the
cache of a generated MMAct-shaped tree (1080p H.264, subjectS/camC/sceneN/sessionK) through the real
data module, and extrapolates build time and cache size to the full MMAct release.

    python -m harlit.bench prepare                       # the MMAct sample clip of the shared data
    python -m harlit.bench prepare --clip path/to/clip.mp4 --repeats 5 --tree-clips 6
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from harlit.bench.generated.mmact import make_mmact_video_tree
from harlit.bench.machine import load_average
from harlit.bench.reference_decode import decode_clip_every_frame, decode_only
from harlit.bench.tables import markdown_header, markdown_row, markdown_table
from harlit.bench.timing import best, interleaved, timed
from harlit.data.clip_format import ClipSettings, read_clip
from harlit.data.mmact import MMActDataModule
from harlit.data.video_cache import _decode_to_file
from harlit.data.video_decode import decode_clip

MMACT_CLIPS = 36_700  # trimmed MMAct RGB clips
CORES = 16


def sample_clip() -> Path:
    """The MMAct sample clip of the shared data: under $HARLIT_SHARED_DATA, else ../shared/data beside the
    repository (where the tests look too)."""
    shared = os.environ.get("HARLIT_SHARED_DATA")
    folder = Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared" / "data"
    return folder / "mmact" / "sample_clip" / "carrying.mp4"


def evict(path: Path) -> None:
    """Drop a file's pages from the page cache (no root needed), so the next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def bench_clip(clip: Path, settings: ClipSettings, repeats: int, workdir: Path) -> dict[str, float]:
    frames = frame_count(clip)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        print(
            f"\n## Sample clip: {clip.name}: {stream.codec_context.name} {stream.width}x{stream.height}, "
            f"{frames} frames, {clip.stat().st_size / 1e6:.2f} MB"
        )
    # Warm-up (file in page cache, codecs loaded), and the equality the tests also check.
    same = np.array_equal(decode_clip(clip, settings, 1), decode_clip_every_frame(clip, settings, 1))
    print(f"chosen-frame clip equals every-frame clip: {same}")
    jpeg = ClipSettings(settings.num_frames, settings.frame_size, settings.resize, "jpeg", settings.quality)
    targets = {"uint8": workdir / "clip.npy", "jpeg": workdir / "clip.jpgs"}
    times = interleaved(
        {
            "decode only": lambda: decode_only(clip, 1),
            "old: convert every frame": lambda: decode_clip_every_frame(clip, settings, 1),
            "new: convert chosen frames": lambda: decode_clip(clip, settings, 1),
            "cache write, uint8": lambda: _decode_to_file(str(clip), str(targets["uint8"]), settings, 1),
            "cache write, jpeg": lambda: _decode_to_file(str(clip), str(targets["jpeg"]), jpeg, 1),
        },
        repeats,
    )
    floor = best(times["decode only"])[1]
    print(f"\nOne core, {repeats} interleaved rounds; best of the rounds, speeds from CPU time:\n")
    rows = []
    for name, values in times.items():
        wall, cpu = best(values)
        median = statistics.median(v[0] for v in values)
        rows.append(
            [
                name,
                f"{wall:.3f} / {median:.3f}",
                f"{cpu:.3f}",
                f"{frames / cpu:.0f}",
                f"{1 / cpu:.2f}",
                f"{floor / cpu:.3f}",
            ]
        )
    columns = [
        "method",
        "wall s (best / median)",
        "CPU s (best)",
        "source frames/s",
        "clips/s",
        "speed / decode only",
    ]
    print(markdown_table(columns, rows))

    reference = decode_clip(clip, settings, 1)
    sizes = {name: path.stat().st_size / 1e6 for name, path in targets.items()}
    error = (read_clip(targets["jpeg"]).float() - torch.from_numpy(reference).float()).abs()
    reads: dict[str, dict[str, list[float]]] = {"warm": {}, "cold": {}}
    for _ in range(repeats * 3):
        for name, path in targets.items():
            reads["warm"].setdefault(name, []).append(timed(lambda p=path: read_clip(p)))
            evict(path)
            reads["cold"].setdefault(name, []).append(timed(lambda p=path: read_clip(p)))
    shape = "x".join(map(str, reference.shape[2:4]))
    print(f"\nCached clip ({settings.num_frames} frames of {shape}; JPEG quality {settings.quality}):\n")

    def best_and_median(values: list[float]) -> str:
        return f"{1e3 * min(values):.1f} / {1e3 * statistics.median(values):.1f}"

    columns = [
        "format",
        "MB per clip",
        "full MMAct (GB)",
        "read+decode warm ms (best / median)",
        "cold ms (best / median)",
    ]
    rows = [
        [name, f"{sizes[name]:.3f}", f"{sizes[name] * MMACT_CLIPS / 1e3:.1f}"]
        + [best_and_median(reads["warm"][name]), best_and_median(reads["cold"][name])]
        for name in targets
    ]
    print(markdown_table(columns, rows))
    print(
        f"\nJPEG vs uint8 pixels: mean abs error {error.mean():.2f}, 99th percentile "
        f"{error.flatten().kthvalue(int(0.99 * error.numel())).values:.0f}, max {error.max():.0f} (0-255)."
    )
    # "Cold" reads the file back from this VM's virtual disk after evicting it; a cluster's network
    # filesystem is slower, which favours the 13x smaller JPEG file further.
    return {
        "frames": frames,
        "floor_s": floor,
        "old_s": best(times["old: convert every frame"])[1],
        "new_s": best(times["new: convert chosen frames"])[1],
        "jpeg_s": best(times["cache write, jpeg"])[1],
        "uint8_s": best(times["cache write, uint8"])[1],
        "uint8_mb": sizes["uint8"],
        "jpeg_mb": sizes["jpeg"],
    }


def bench_tree(
    root: Path, cache: Path, settings: ClipSettings, clips: int, frames: int, repeats: int
) -> dict[str, float]:
    start = time.perf_counter()
    paths = make_mmact_video_tree(root, clips, frames)
    print(
        f"\n## Generated MMAct tree: {clips} clips of {frames} frames, 1920x1080 H.264 "
        f"(generated in {time.perf_counter() - start:.0f} s)\n"
    )
    print("Whole cache build through MMActDataModule.prepare_videos, one worker (decoder threads: FFmpeg's")
    print(
        "choice, as `data.prepare_workers=1` runs; wall time), and per clip on one core (CPU s, best of the "
        "rounds, mean over clips):\n"
    )
    columns = [
        "format",
        "build s",
        "clips/s",
        "source frames/s",
        "MB per clip",
        "decode only / new / cache write, CPU s per clip",
    ]
    print(markdown_header(columns))
    out: dict[str, float] = {}
    for fmt in ("uint8", "jpeg"):
        dm = MMActDataModule(
            root=str(root),
            modalities=["video"],
            num_frames=settings.num_frames,
            frame_size=settings.frame_size,
            video_resize=settings.resize,
            cache_format=fmt,
            cache_quality=settings.quality,
            cache_dir=str(cache),
            prepare_workers=1,
        )
        start = time.perf_counter()
        cache_obj, requests, failures = dm.prepare_videos(progress=False)
        build = time.perf_counter() - start
        assert not failures, failures
        size = sum(cache_obj.clip_path(r).stat().st_size for r in requests) / len(requests) / 1e6
        target = str(cache / f"one-clip-{fmt}")
        rounds = [
            interleaved(
                {
                    "floor": lambda p=p: decode_only(p, 1),
                    "new": lambda p=p, s=dm.clip_settings: decode_clip(p, s, 1),
                    "write": lambda p=p, s=dm.clip_settings, t=target: _decode_to_file(str(p), t, s, 1),
                },
                repeats,
            )
            for p in paths
        ]
        floor, new, write = (
            statistics.mean(best(r[name])[1] for r in rounds) for name in ("floor", "new", "write")
        )
        print(
            markdown_row(
                [
                    fmt,
                    f"{build:.1f}",
                    f"{len(requests) / build:.2f}",
                    f"{len(requests) * frames / build:.0f}",
                    f"{size:.3f}",
                    f"{floor:.3f} / {new:.3f} / {write:.3f} (write / decode only {floor / write:.2f})",
                ]
            )
        )
        out[f"{fmt}_mb"] = size
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clip", type=Path, default=sample_clip(), help="a real clip (default: the MMAct sample)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds on the sample clip")
    parser.add_argument("--tree-clips", type=int, default=4, help="clips in the generated MMAct tree")
    parser.add_argument("--tree-frames", type=int, default=90, help="frames per generated clip (30 fps)")
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--frame-size", type=int, default=224)
    parser.add_argument("--quality", type=int, default=90)


def run(args: argparse.Namespace) -> None:
    """Print the Markdown report of the sample clip, the generated tree and the extrapolation."""
    torch.set_num_threads(1)
    settings = ClipSettings(args.num_frames, args.frame_size, "squash", "uint8", args.quality)
    print(f"# bench prepare: {args.num_frames} frames of {args.frame_size}x{args.frame_size}, squash")
    print(f"CPU: {os.cpu_count()} cores visible; PyAV {av.__version__}, torch {torch.__version__}")
    print(f"load average at start: {load_average()} (other processes share the cores)")

    with tempfile.TemporaryDirectory(prefix="harlit_bench_prepare_") as tmp:
        tmp_path = Path(tmp)
        figures = None
        if args.clip.is_file():
            figures = bench_clip(args.clip, settings, args.repeats, tmp_path)
        else:
            print(f"\n(no sample clip at {args.clip}: skipping the real-clip part)")
        if args.tree_clips > 0:
            bench_tree(
                tmp_path / "mmact",
                tmp_path / "cache",
                settings,
                args.tree_clips,
                args.tree_frames,
                args.repeats,
            )

    if figures is not None:
        # Assumes MMAct clips as long as the sample clip and 16 single-threaded workers scaling linearly
        # (`prepare_workers` > 1 runs one decoder thread per worker); reading ~4 MB of source per clip is
        # far below disk speed at these rates.
        print(f"\n## Extrapolation to full MMAct ({MMACT_CLIPS} clips like the sample, {CORES} cores)\n")
        rows = [
            [
                fmt,
                f"{MMACT_CLIPS * figures[f'{fmt}_s'] / CORES / 3600:.2f}",
                f"{MMACT_CLIPS * figures[f'{fmt}_mb'] / 1e3:.1f}",
            ]
            for fmt in ("uint8", "jpeg")  # hours from the one-core CPU s per clip
        ]
        print(markdown_table(["format", "build h", "cache GB"], rows))
        floor = figures["floor_s"]
        print(
            f"\nCache building on one core vs decode only (CPU time; target >= 0.9): old decoder "
            f"{floor / figures['old_s']:.3f}, new decoder {floor / figures['new_s']:.3f}, whole jpeg write "
            f"{floor / figures['jpeg_s']:.3f}, whole uint8 write {floor / figures['uint8_s']:.3f}"
        )

    print(f"load average at end: {load_average()}")
