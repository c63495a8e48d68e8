"""Table of the fourth utd_stage1_imu search: `python -m experiments.utd_imu_search.summarise OUT_DIR`.

Reads the per-config logs of the retired GPU search loop (`logs_h100/call*/<config>.log`, one line per
fold x seed; the loop, run.sh, was deleted in commit dd6f001, see experiments/utd_imu_search/README.md)
and prints, per config, the mean final-epoch validation Top-1 and its paired difference from `current`
over the (fold, seed) pairs both finished, with the standard error of that difference.
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

RUN_LINE = re.compile(
    r"^\[(?P<name>[^\]]*)\] held out subject (?P<fold>\d+) seed (?P<seed>\d+): .* final (?P<top1>[\d.]+) \("
)
BASELINE = "current"


def read_runs(out_dir: Path) -> dict[str, dict[tuple[int, int], float]]:
    """{config: {(fold, seed): final top-1}} from every *.log in `out_dir`."""
    runs: dict[str, dict[tuple[int, int], float]] = {}
    for log in sorted(out_dir.glob("*.log")):
        for line in log.read_text().splitlines():
            match = RUN_LINE.match(line)
            if match:
                key = (int(match["fold"]), int(match["seed"]))
                runs.setdefault(match["name"], {})[key] = float(match["top1"])
    return runs


def summary_table(runs: dict[str, dict[tuple[int, int], float]]) -> str:
    baseline = runs.get(BASELINE, {})
    rows = []
    for name, results in runs.items():
        values = list(results.values())
        shared = sorted(set(results) & set(baseline))
        diffs = [results[k] - baseline[k] for k in shared]
        diff = statistics.mean(diffs) if diffs else float("nan")
        stderr = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
        per_fold = {
            fold: statistics.mean(v for (f, _), v in results.items() if f == fold)
            for fold in sorted({f for f, _ in results})
        }
        rows.append((diff, name, len(values), statistics.mean(values), per_fold, stderr))
    rows.sort(key=lambda row: (row[1] != BASELINE, -row[0] if row[0] == row[0] else 0))
    lines = [
        "| config | runs | mean val Top-1 | per fold (1 / 3 / 5 / 7) | vs current (paired) | ± s.e. |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for diff, name, count, mean, per_fold, stderr in rows:
        folds = " / ".join(f"{v:.2f}" for v in per_fold.values())
        lines.append(f"| {name} | {count} | {mean:.2f} | {folds} | {diff:+.2f} | {stderr:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    runs = read_runs(args.out_dir)
    if not runs:
        raise SystemExit(
            f"no finished runs in {args.out_dir}; give a folder of the loop's logs, e.g. the logs_h100/call* files gathered into one folder"
        )
    print(summary_table(runs))


if __name__ == "__main__":
    main()
