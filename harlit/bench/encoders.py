"""`python -m harlit.bench encoders`: every encoder of conf/model/{video,imu}_encoder: parameters, FLOPs, step time.

    python -m harlit.bench encoders [--modality video|imu] [--steps 5] [--frames 8 --size 32 --batch 4]
    python -m harlit.bench encoders --device cuda --precision bf16 --frames 16 --size 224 --batch 16

Each encoder is built through the real config (`+experiment=synthetic_stage1_<m> model/<m>_encoder=NAME`).
Parameters and FLOPs (torch.utils.flop_counter: two per multiply-add, one forward pass) are counted on
the meta device, for one 16x224x224 clip (video) or one 6-channel sequence of 96 samples (IMU, the
harlit UTD-MHAD setting), whatever the timed size. The step time is model-only: encoder, a linear
classifier, cross-entropy, backward and an AdamW step on one fixed batch, every encoder trainable; the
encoders take turns over rounds, so drift on a shared machine hits each alike, and each median is also
given relative to the paper's encoder (s3d, imu_cnn). MViT takes 16x224x224 clips only: it is timed at
that size with batch 1 unless the timed size already is 16x224x224, and its row says so.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harlit.bench.machine import load_average, machine
from harlit.bench.tables import markdown_table
from harlit.bench.timing import median_step_seconds
from harlit.config import CONFIG_DIR, compose_config, instantiate
from harlit.errors import HarlitError

PAPER_ENCODER = {"video": "s3d", "imu": "imu_cnn"}
FLOP_INPUT = {"video": (3, 16, 224, 224), "imu": (6, 96)}
NUM_CLASSES = 27


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality", choices=("video", "imu"), default="video")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per encoder per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8, help="video: frames of a timed clip")
    parser.add_argument("--size", type=int, default=32, help="video: height and width of a timed clip")
    parser.add_argument("--length", type=int, default=96, help="imu: samples of a timed sequence")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--only", nargs="*", default=None, help="encoder names (default: every one)")


def encoder_names(modality: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "model" / f"{modality}_encoder").glob("*.yaml"))


def encoder_config(modality: str, name: str, extra: list[str] | None = None) -> Any:
    overrides = [
        f"+experiment=synthetic_stage1_{modality}",
        f"model/{modality}_encoder={name}",
        *(extra or []),
    ]
    return compose_config(overrides, return_hydra_config=False).model[modality]


def counted(modality: str, name: str) -> tuple[int, float]:
    """Parameters and forward GFLOPs of one input of FLOP_INPUT, counted on the meta device."""
    extra = ["data.num_frames=16", "data.frame_size=224"] if modality == "video" else ["data.imu_length=96"]
    with torch.device("meta"):
        encoder = instantiate(encoder_config(modality, name, extra)).eval()
        sample = torch.zeros(1, *FLOP_INPUT[modality])
    with FlopCounterMode(display=False) as flops, torch.no_grad():
        encoder(sample)
    return sum(p.numel() for p in encoder.parameters()), flops.get_total_flops() / 1e9


def timed_input(modality: str, name: str, args: argparse.Namespace) -> tuple[torch.Tensor, str]:
    if modality == "imu":
        return torch.randn(args.batch, 6, args.length), f"{args.batch}x6x{args.length}"
    frames, size, batch = args.frames, args.size, args.batch
    if name.startswith("mvit") and (frames, size) != (16, 224):
        frames, size, batch = 16, 224, 1  # the only clip size MViT takes
    clips = torch.randint(0, 256, (batch, 3, frames, size, size), dtype=torch.uint8)
    return clips, f"{batch}x{frames}x{size}x{size}"


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Print one Markdown row per encoder; returns the figures per encoder."""
    device = torch.device(args.device)
    names = args.only or encoder_names(args.modality)
    unknown = sorted(set(names) - set(encoder_names(args.modality)))
    if unknown:
        raise HarlitError(
            f"no {args.modality} encoder {unknown[0]!r}; choose from {encoder_names(args.modality)}."
        )
    torch.manual_seed(0)
    steps: dict[str, Any] = {}
    for name in names:
        encoder = instantiate(encoder_config(args.modality, name)).to(device).train()
        head = nn.Linear(encoder.out_dim, NUM_CLASSES).to(device)
        params = [*encoder.parameters(), *head.parameters()]
        inputs, shape = timed_input(args.modality, name, args)
        labels = torch.randint(0, NUM_CLASSES, (inputs.shape[0],), device=device)
        steps[name] = (encoder, head, torch.optim.AdamW(params, lr=1e-4), inputs.to(device), labels, shape)

    def step(name: str) -> None:
        encoder, head, optimizer, inputs, labels, _ = steps[name]
        autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if args.precision == "bf16"
            else contextlib.nullcontext()
        )
        with autocast:
            loss = F.cross_entropy(head(encoder(inputs)).float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    medians = median_step_seconds(step, list(names), device, args.rounds, args.steps)
    reference = PAPER_ENCODER[args.modality]
    figures: dict[str, dict[str, Any]] = {}
    for name in names:
        count, gflops = counted(args.modality, name)
        median = medians[name]
        batch = steps[name][3].shape[0]
        figures[name] = {
            "params_m": count / 1e6,
            "gflops": gflops,
            "out_dim": steps[name][0].out_dim,
            "timed": steps[name][5],
            "ms_per_step": 1000 * median,
            "samples_per_s": batch / median,
        }
    unit = "16x224x224 clip" if args.modality == "video" else "6x96 sequence"
    rows = [
        [
            name,
            f"{f['params_m']:.2f}",
            f"{f['gflops']:.4g}",
            f["out_dim"],
            f["timed"],
            f"{f['ms_per_step']:.1f}",
            f"{f['samples_per_s']:.1f}",
            f"{f['ms_per_step'] / figures[reference]['ms_per_step']:.2f}"
            if reference in figures and f["timed"] == figures[reference]["timed"]
            else "-",  # a ratio only between steps of the same input size
        ]
        for name, f in figures.items()
    ]
    columns = [
        "encoder",
        "params (M)",
        f"GFLOPs / {unit}",
        "feature width",
        "timed batch",
        "ms / step",
        "samples / s",
        f"step vs {reference}",
    ]
    info = machine()
    where = info.get("gpu") or f"{info['cpu_count']} cores, {info['cpu_threads']} torch threads"
    print(
        f"{args.device} ({where}), "
        f"{args.precision}, torch {info['torch']}, load average {load_average()}, "
        f"median of {args.rounds}x{args.steps} steps"
    )
    print(markdown_table(columns, rows))
    return figures
