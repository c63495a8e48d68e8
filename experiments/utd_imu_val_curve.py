"""Held-out learning curves that chose the utd_stage1_imu settings, on the TRAINING subjects only.

Each fold trains on three of the odd subjects {1, 3, 5, 7} and evaluates the fourth every 50 epochs, by
setting `train_subjects` / `test_subjects` to odd subjects: the even (test) subjects are never loaded.
The loop mirrors the Lightning run of `utd_stage1_imu` (same DataModule, normalisation, IMUEncoder,
LinearHead, AdamW at the paper's lr 1e-4 / weight decay 1e-6, batch 128 with drop_last, augmentation),
without the per-epoch overhead, so a curve costs minutes on a CPU.

    .venv/bin/python -m experiments.utd_imu_val_curve --imu-length 128 --jitter 0.05 --scale 0.1 --epochs 800 --folds 1,5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from harlit.data.transforms import augment_imu
from harlit.data.utd_mhad import UTDMHADDataModule
from harlit.models.imu_cnn import IMUEncoder
from harlit.models.linear_head import LinearHead

ODD_SUBJECTS = (1, 3, 5, 7)
DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "utd_mhad"


def held_out_curve(held_out: int, args: argparse.Namespace) -> list[float]:
    torch.manual_seed(args.seed)
    dm = UTDMHADDataModule(root=str(args.root), modalities=["imu"], imu_channels=6, imu_length=args.imu_length,
                           train_subjects=[s for s in ODD_SUBJECTS if s != held_out], test_subjects=[held_out],
                           batch_size=128, seed=args.seed)
    dm.setup("fit")
    encoder, head = IMUEncoder(6, dropout=args.dropout), LinearHead(96, 27, 0.2)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=1e-4, weight_decay=1e-6)
    curve = []
    for epoch in range(1, args.epochs + 1):
        encoder.train(), head.train()
        for batch in dm.train_dataloader():
            logits = head(encoder(augment_imu(batch["imu"], args.jitter, args.scale)))
            loss = torch.nn.functional.cross_entropy(logits, batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % args.every == 0:
            encoder.eval(), head.eval()
            correct = total = 0
            with torch.no_grad():
                for batch in dm.test_dataloader():
                    correct += int((head(encoder(batch["imu"])).argmax(1) == batch["label"]).sum())
                    total += len(batch["label"])
            curve.append(round(100 * correct / total, 1))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--imu-length", type=int, default=128)
    parser.add_argument("--jitter", type=float, default=0.05)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=800)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--folds", default="1,5", help="odd subjects to hold out, one curve each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for held_out in (int(s) for s in args.folds.split(",")):
        if held_out not in ODD_SUBJECTS:
            raise SystemExit("validation subjects must be training (odd) subjects")
        start = time.time()
        curve = held_out_curve(held_out, args)
        print(f"held out subject {held_out}: top-1 every {args.every} epochs {curve} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
