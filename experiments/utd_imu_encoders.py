"""Tables of experiments/utd_imu_encoders.sh, and its decision rule (--chosen ENCODER prints the chosen lr).

    python experiments/utd_imu_encoders.py RUNS [ENCODER...]
    python experiments/utd_imu_encoders.py RUNS --chosen ENCODER

The rule: per encoder, the learning rate with the higher mean final-epoch val/top1 over the 4 folds x
SELECT_SEEDS wins; on a difference under 0.5 points the recipe's 1e-4 stays. It refuses while any select
run of the encoder is missing, so the test split is read only once the choice is fixed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

FOLDS = (1, 3, 5, 7)
PAIRS = ("1_2", "3_4", "5_6", "7_8")
RECIPE_LR = "1e-4"
MARGIN = 0.5  # points of validation Top-1 a learning rate must gain over the recipe's to replace it


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def metric(path: Path, key: str) -> float | None:
    if not path.is_file():
        return None
    value = json.loads(path.read_text()).get(key)
    return None if value is None else 100 * float(value)


def select_scores(runs: Path, encoder: str) -> dict[str, dict[int, list[float | None]]]:
    """lr -> fold -> val/top1 per selection seed (None where the run has not finished)."""
    seeds = os.environ.get("SELECT_SEEDS", "0").split()
    return {
        lr: {
            fold: [
                metric(
                    runs / "select" / encoder / f"lr{lr}" / f"val{fold}" / f"seed{s}" / "metrics.json",
                    "val/top1",
                )
                for s in seeds
            ]
            for fold in FOLDS
        }
        for lr in os.environ.get("LRS", "1e-4 1e-3").split()
    }


def missing_select_runs(scores: dict[str, dict[int, list[float | None]]]) -> int:
    return sum(v is None for folds in scores.values() for values in folds.values() for v in values)


def chosen(runs: Path, encoder: str) -> str | None:
    """The learning rate the rule chooses; None while a select run is missing."""
    scores = select_scores(runs, encoder)
    if missing_select_runs(scores):
        return None
    means = {
        lr: statistics.mean(v for values in folds.values() for v in values) for lr, folds in scores.items()
    }
    best = max(means, key=means.__getitem__)
    if RECIPE_LR in means and means[best] - means[RECIPE_LR] < MARGIN:
        return RECIPE_LR
    return best


def select_table(runs: Path, encoders: list[str]) -> None:
    print("| encoder | lr | val Top-1 %: mean over folds x seeds | held out 1 / 3 / 5 / 7 | chosen |")
    print("|---|---|---|---|---|")
    for encoder in encoders:
        scores = select_scores(runs, encoder)
        pick = chosen(runs, encoder)
        for lr, folds in scores.items():
            done = [v for values in folds.values() for v in values if v is not None]
            per_fold = " / ".join(mean_std([v for v in folds[f] if v is not None]) for f in FOLDS)
            n = sum(len(values) for values in folds.values())
            mark = "yes" if lr == pick else ("pending" if pick is None else "")
            print(f"| {encoder} | {lr} | {mean_std(done)} ({len(done)}/{n} runs) | {per_fold} | {mark} |")


def test_table(runs: Path, encoders: list[str]) -> None:
    print(
        "| encoder | lr | test Top-1 % | Top-5 % | macro F1 % | Top-1 per seed | cross-subject Top-1 % | per test pair 1,2 / 3,4 / 5,6 / 7,8 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for encoder in encoders:
        lr = chosen(runs, encoder) or "pending"
        tests = sorted((runs / "test" / encoder).glob("seed*/metrics.json"))
        scores = {k: [metric(f, k) for f in tests] for k in ("test/top1", "test/top5", "test/f1_macro")}
        seeds = " / ".join(f"{v:.2f}" for v in scores["test/top1"])
        pairs = {
            p: [
                metric(f, "test/top1")
                for f in sorted((runs / "cross" / encoder / f"test_{p}").glob("seed*/metrics.json"))
            ]
            for p in PAIRS
        }
        pooled = [v for values in pairs.values() for v in values]
        per_pair = " / ".join(mean_std(pairs[p]) for p in PAIRS)
        cells = " | ".join(mean_std(v) for v in scores.values())
        print(
            f"| {encoder} | {lr} | {cells} (n={len(tests)}) | {seeds or '-'} | {mean_std(pooled)} (n={len(pooled)}) | {per_pair} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("encoders", nargs="*", default=["resnet1d", "deepconvlstm", "conv_transformer"])
    parser.add_argument("--chosen", metavar="ENCODER", help="print the learning rate the rule chooses")
    args = parser.parse_args()
    if args.chosen:
        lr = chosen(args.runs, args.chosen)
        if lr is None:
            missing = missing_select_runs(select_scores(args.runs, args.chosen))
            raise SystemExit(
                f"{missing} select runs of {args.chosen} have no metrics.json under "
                f"{args.runs / 'select' / args.chosen}; run the select phase to the end before test or cross."
            )
        print(lr)
        return
    select_table(args.runs, args.encoders)
    print()
    test_table(args.runs, args.encoders)


if __name__ == "__main__":
    sys.exit(main())
