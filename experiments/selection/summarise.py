"""Validation scores of a selection sweep: `python experiments/selection/summarise.py RUNS [--baseline "k=v ..."]`.

Reads every metrics.json below RUNS (jobs of experiments/selection/run.sh), groups the jobs by their
overrides apart from the fold (`data.val_subjects`) and the seed, and prints per candidate the mean of
`optimized_value` (the validation metric each job returned), and its paired difference from the
baseline candidate over the (fold, seed) pairs both have: overall with its standard error, and per fold.
Test metrics are never read.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

PAIRING_KEYS = ("data.val_subjects", "seed")


def read_jobs(runs: Path) -> dict[str, dict[tuple[str, str], float]]:
    """{candidate: {(fold, seed): validation value}}; a candidate is its overrides minus fold and seed."""
    jobs: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for metrics_file in sorted(runs.rglob("metrics.json")):
        overrides_file = metrics_file.parent / ".hydra" / "overrides.yaml"
        metrics = json.loads(metrics_file.read_text())
        value = metrics.get("optimized_value")
        if value is None or not overrides_file.is_file():
            continue  # a stage-1 sub-run, or a job without validation data
        overrides = [str(o) for o in yaml.safe_load(overrides_file.read_text()) or []]
        pairing = {
            o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] in PAIRING_KEYS
        }
        rest = sorted(
            o for o in overrides if o.split("=", 1)[0] not in PAIRING_KEYS and not o.startswith("hydra.")
        )
        jobs[" ".join(rest)][(pairing.get("data.val_subjects", "?"), pairing.get("seed", "0"))] = float(value)
    return dict(jobs)


def summary(jobs: dict[str, dict[tuple[str, str], float]], baseline: str | None) -> str:
    base = jobs.get(baseline or "", {})
    lines = ["| candidate | runs | mean val | paired diff ± SE | per fold (diff) |", "|---|---|---|---|---|"]
    for name, results in sorted(jobs.items()):
        mean = statistics.mean(results.values()) * 100
        shared = sorted(set(results) & set(base))
        diffs = [(results[k] - base[k]) * 100 for k in shared]
        if name == baseline or len(diffs) < 2:
            paired, folds = "—", "—"
        else:
            paired = f"{statistics.mean(diffs):+.2f} ± {statistics.stdev(diffs) / len(diffs) ** 0.5:.2f} (n={len(diffs)})"
            by_fold: dict[str, list[float]] = defaultdict(list)
            for (fold, _), diff in zip(shared, diffs, strict=True):
                by_fold[fold].append(diff)
            folds = " / ".join(f"{fold}: {statistics.mean(d):+.2f}" for fold, d in sorted(by_fold.items()))
        lines.append(f"| {name or '(no override)'} | {len(results)} | {mean:.2f} | {paired} | {folds} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument(
        "--baseline", default=None, help="the candidate (its overrides, space-separated) to pair against"
    )
    args = parser.parse_args()
    jobs = read_jobs(args.runs)
    if not jobs:
        raise SystemExit(
            f"no job with a validation score below {args.runs}; did the sweep set data.val_subjects?"
        )
    print(summary(jobs, args.baseline))


if __name__ == "__main__":
    main()
