"""Held-out learning curves that choose the utd_stage1_imu settings, on the TRAINING subjects only.

Each fold trains on three of the odd subjects {1, 3, 5, 7} and evaluates the fourth every `--every`
epochs and at the last epoch, by setting `train_subjects` / `test_subjects` to odd subjects: the even
(test) subjects are never loaded. The loop mirrors the Lightning run of `utd_stage1_imu` (same
DataModule and normalisation, IMUEncoder, LinearHead, AdamW at the paper's lr 1e-4 / weight decay 1e-6,
batch 128, shuffled with drop_last, the same augmentation after batching, an optional per-epoch
CosineAnnealingLR(T_max=epochs) as `model.scheduler` would give), without the per-epoch overhead: the
normalised training set is stacked once and reshuffled every epoch, so a curve costs minutes on a CPU.

    # first search (one fold)
    .venv/bin/python -m experiments.utd_imu_val_curve --imu-length 128 --jitter 0.05 --scale 0.1 --epochs 800 --folds 1
    # second search: all four folds, score = mean final-epoch Top-1 over folds
    .venv/bin/python -m experiments.utd_imu_val_curve --imu-length 192 --epochs 300 --folds 1,3,5,7
    # third search: 450 epochs (the final run's 900 optimiser steps), one fold per process, 1-2 seeds
    .venv/bin/python -m experiments.utd_imu_val_curve --epochs 450 --every 150 --folds 5 --seeds 1 --rotate 15
    # fourth search: many configs x folds x seeds on a GPU (--device cuda, the default when one is
    # present), driven by experiments/utd_imu_search/run.sh
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from harlit.models.linear_head import LinearHead

from harlit.data.transforms import augment_imu, rotate_imu
from harlit.data.utd_mhad import UTDMHADDataModule
from harlit.models.imu_cnn import IMUEncoder

ODD_SUBJECTS = (1, 3, 5, 7)
DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "utd_mhad"
BATCH_SIZE = 128


def stacked(dataset: torch.utils.data.Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    items = [dataset[i] for i in range(len(dataset))]
    imu = torch.stack([torch.as_tensor(it["imu"]) for it in items]).float()
    return imu.to(device), torch.tensor([it["label"] for it in items], device=device)


def held_out_curve(held_out: int, seed: int, args: argparse.Namespace) -> list[float]:
    device = torch.device(args.device)
    torch.manual_seed(seed)
    dm = UTDMHADDataModule(
        root=str(args.root),
        modalities=["imu"],
        imu_channels=6,
        imu_length=args.imu_length,
        train_subjects=[s for s in ODD_SUBJECTS if s != held_out],
        test_subjects=[held_out],
        batch_size=BATCH_SIZE,
        seed=seed,
    )
    dm.setup("fit")
    train_x, train_y = stacked(dm.train_set, device)
    val_x, val_y = stacked(dm.test_set, device)
    channels = [int(c) for c in args.channels.split(",")]
    encoder = IMUEncoder(6, channels=channels, dropout=args.dropout, pooling=args.pooling, norm=args.norm)
    head = LinearHead(channels[-1], 27, args.head_dropout)
    encoder.to(device), head.to(device)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=1e-4, weight_decay=1e-6)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs) if args.cosine else None
    )
    n = len(train_y)
    steps = n // BATCH_SIZE if n > BATCH_SIZE else 1  # drop_last, as in the DataModule
    curve = []
    for epoch in range(1, args.epochs + 1):
        encoder.train(), head.train()
        order = torch.randperm(n, device=device)
        for step in range(steps):
            idx = order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]
            batch = train_x[idx]
            if args.rotate > 0:
                batch = rotate_imu(batch, [list(range(6))], args.rotate, dm.imu_stats)
            logits = head(encoder(augment_imu(batch, args.jitter, args.scale, args.crop_scale)))
            loss = torch.nn.functional.cross_entropy(
                logits, train_y[idx], label_smoothing=args.label_smoothing
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if epoch % args.every == 0 or epoch == args.epochs:
            encoder.eval(), head.eval()
            with torch.no_grad():
                correct = int((head(encoder(val_x)).argmax(1) == val_y).sum())
            curve.append(round(100 * correct / len(val_y), 2))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--imu-length", type=int, default=128)
    parser.add_argument("--jitter", type=float, default=0.05)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--dropout", type=float, default=0.1, help="encoder dropout (model.imu.dropout)")
    parser.add_argument(
        "--head-dropout", type=float, default=0.2, help="linear head dropout (model.head.dropout)"
    )
    parser.add_argument("--channels", default="32,64,96", help="model.imu.channels")
    parser.add_argument("--pooling", choices=("max", "avg"), default="max")
    parser.add_argument("--norm", choices=("none", "batch"), default="none", help="model.imu.norm")
    parser.add_argument(
        "--crop-scale", type=float, default=1.0, help="random time crop (data.augment.imu_crop_scale)"
    )
    parser.add_argument("--rotate", type=float, default=0.0, help="data.augment.imu_rotation (degrees)")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="model.label_smoothing")
    parser.add_argument(
        "--cosine", action="store_true", help="CosineAnnealingLR(T_max=epochs), stepped per epoch"
    )
    parser.add_argument("--epochs", type=int, default=800)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--folds", default="1,3,5,7", help="odd subjects to hold out, one curve each")
    parser.add_argument("--seeds", default="0", help="seeds per fold; the score averages them")
    parser.add_argument("--name", default="", help="label printed with the summary line")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folds = [int(s) for s in args.folds.split(",")]
    if not set(folds) <= set(ODD_SUBJECTS):
        raise SystemExit("validation subjects must be training (odd) subjects")
    finals = []
    # Seed-major: a run stopped early still has every fold of each finished seed.
    for seed in (int(s) for s in args.seeds.split(",")):
        for held_out in folds:
            start = time.time()
            curve = held_out_curve(held_out, seed, args)
            finals.append(curve[-1])
            print(
                f"[{args.name}] held out subject {held_out} seed {seed}: top-1 every {args.every} epochs "
                f"{curve} final {curve[-1]} ({time.time() - start:.0f} s)",
                flush=True,
            )
    spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
    print(
        f"[{args.name}] final-epoch val top-1 over folds x seeds {finals}: mean {statistics.mean(finals):.2f} ± {spread:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
