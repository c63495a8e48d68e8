"""Validation scores of a selection sweep: `python experiments/selection/summarise.py RUNS [--baseline "k=v ..."]`.

Reads every metrics.json below RUNS (jobs of experiments/selection/run.sh), groups the jobs by their
overrides apart from the fold (`data.val_subjects`) and the seed, and prints per candidate the mean of
`optimized_value` (the validation metric each job returned), and its paired difference from the
baseline candidate over the (fold, seed) pairs both have: overall with its standard error, and per fold.
Then how many jobs returned nothing (no validation data, or no metrics.json), and which. Test metrics
are never read.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

PAIRING_KEYS = ("data.val_subjects", "seed")
NO_VALUE = "optimized_value is null: no validation data; set data.val_subjects to training subjects"
NO_METRICS = "no metrics.json: the job failed or is still running"


Scores = dict[str, dict[tuple[str, str], float]]


def read_jobs(runs: Path) -> tuple[Scores, dict[str, list[Path]]]:
    """({candidate: {(fold, seed): validation value}}, the jobs that returned nothing, by why).

    A job is a folder with Hydra's .hydra/overrides.yaml (a stage-2 job's stage1_* sub-runs are not jobs);
    a candidate is its overrides minus fold and seed. A job without metrics.json failed or is still
    running; one whose optimized_value is null had no validation data. Both are counted, never dropped
    without a word.
    """
    jobs: Scores = defaultdict(dict)
    nothing: dict[str, list[Path]] = {NO_VALUE: [], NO_METRICS: []}
    for overrides_file in sorted(runs.rglob(".hydra/overrides.yaml")):
        job = overrides_file.parent.parent
        metrics_file = job / "metrics.json"
        if not metrics_file.is_file():
            nothing[NO_METRICS].append(job)
            continue
        value = json.loads(metrics_file.read_text()).get("optimized_value")
        if value is None:
            nothing[NO_VALUE].append(job)
            continue
        overrides = [str(o) for o in yaml.safe_load(overrides_file.read_text()) or []]
        pairing = {
            o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] in PAIRING_KEYS
        }
        rest = sorted(
            o for o in overrides if o.split("=", 1)[0] not in PAIRING_KEYS and not o.startswith("hydra.")
        )
        jobs[" ".join(rest)][(pairing.get("data.val_subjects", "?"), pairing.get("seed", "0"))] = float(value)
    return dict(jobs), nothing


def nothing_returned(runs: Path, nothing: dict[str, list[Path]]) -> str:
    """One line per kind of job that returned no validation value: how many, and which folders."""
    lines = []
    for why, folders in nothing.items():
        if folders:
            names = ", ".join(str(f.relative_to(runs)) for f in folders)
            lines.append(f"{len(folders)} job(s) returned nothing ({why}): {names}")
    return "\n".join(lines)


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
    jobs, nothing = read_jobs(args.runs)
    said = nothing_returned(args.runs, nothing)
    if not jobs:
        raise SystemExit(
            f"no job with a validation score below {args.runs}; did the sweep set data.val_subjects?"
            + (f"\n{said}" if said else "")
        )
    print(summary(jobs, args.baseline))
    total = sum(len(v) for v in jobs.values()) + sum(len(v) for v in nothing.values())
    print(
        f"\n{total} job(s) read; {total - sum(len(v) for v in nothing.values())} returned a validation value."
    )
    if said:
        print(said)


if __name__ == "__main__":
    main()
