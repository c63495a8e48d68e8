"""`python -m harlit.bench heads`: stage-2 training-step time of each fusion head relative to concat_mlp.

    python -m harlit.bench heads [--steps 20] [--frames 8 --size 32 --batch 16]

Each head is built through the real config (`+experiment=synthetic_stage2 model/head=NAME`) with the
stage-2 trainable blocks, and timed on one fixed batch: forward, loss, backward, optimizer step. The
order of heads is interleaved over rounds, so drift on a shared machine hits each head alike; the
median step time per head is reported. At 16x224x224 (`--frames 16 --size 224`) on a GPU, pass
`--device cuda`.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from harlit.bench.timing import median_step_seconds
from harlit.build import build_model
from harlit.config import compose_config

HEADS = ("concat_mlp", "late", "gated", "attention")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=20, help="timed steps per head per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> dict[str, float]:
    """Print the median ms per step of each head and its ratio to concat_mlp; returns the medians (s)."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    batch = {
        "imu": torch.randn(args.batch, 6, 128, device=device),
        "video": torch.randint(
            0, 256, (args.batch, 3, args.frames, args.size, args.size), dtype=torch.uint8, device=device
        ),
        "label": torch.randint(0, 12, (args.batch,), device=device),
    }
    models, optimizers = {}, {}
    for head in HEADS:
        cfg = compose_config(
            ["+experiment=synthetic_stage2", f"model/head={head}"], return_hydra_config=False
        )
        model = build_model(cfg, 12).to(device).train()
        models[head], optimizers[head] = model, model.configure_optimizers()

    def step(head: str) -> None:
        loss = F.cross_entropy(models[head](batch).float(), batch["label"])
        loss.backward()
        optimizers[head].step()
        optimizers[head].zero_grad(set_to_none=True)

    medians = median_step_seconds(step, list(HEADS), device, args.rounds, args.steps, warmup=3)
    print(
        f"{args.device}, batch {args.batch}, {args.frames}x{args.size}x{args.size} clips, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"{'head':<12}{'ms/step':>10}{'vs concat_mlp':>16}")
    for head, median in medians.items():
        print(f"{head:<12}{1000 * median:>10.1f}{median / medians['concat_mlp']:>16.3f}")
    return medians
