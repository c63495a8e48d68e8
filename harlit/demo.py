"""`python -m harlit.demo [overrides]`: the three synthetic stages, then a Table-2 style summary.

Runs stage 1 (IMU), stage 1 (video) and stage 2 (fusion) in one process; stage 2 finds both stage-1
encoders in the registry by key, so nothing is trained twice. Extra arguments are Hydra overrides
applied to every stage (e.g. `seed=1`).
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime
from pathlib import Path

from harlit import stage1
from harlit.config import compose_config
from harlit.errors import exit_on_user_error
from harlit.startup import configure
from harlit.train import train

STAGES = (
    ("IMU only", "synthetic_stage1_imu"),
    ("video only", "synthetic_stage1_video"),
    ("IMU + video", "synthetic_stage2"),
)


def format_table(rows: list[tuple[str, dict]]) -> str:
    lines = [f"{'setup':<14}{'Top-1':>8}{'Top-5':>8}{'F1':>8}", "-" * 38]
    for label, metrics in rows:
        cells = "".join(f"{100 * metrics[k]:8.1f}" for k in ("test/top1", "test/top5", "test/f1_macro"))
        lines.append(f"{label:<14}{cells}")
    return "\n".join(lines)


@exit_on_user_error
def main(argv: list[str] | None = None) -> list[tuple[str, dict]]:
    overrides = list(sys.argv[1:] if argv is None else argv)
    configure()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    probe = compose_config(overrides, return_hydra_config=False)
    out_root = Path(probe.paths.log_dir).resolve() / "demo" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    rows, start = [], time.perf_counter()
    for label, experiment in STAGES:
        # Stage 2 finds the encoders the first two stages trained only if they got the same overrides.
        given = stage1.for_every_stage(overrides) if experiment.endswith("stage2") else overrides
        cfg = compose_config(
            [f"+experiment={experiment}", *given, f"paths.output_dir={out_root / experiment}"]
        )
        rows.append((label, train(cfg)))
    table = format_table(rows)
    print(
        f"\nharlit demo: synthetic test subjects ({time.perf_counter() - start:.0f} s, runs in {out_root})\n{table}"
    )
    (out_root / "summary.txt").write_text(table + "\n")
    return rows


if __name__ == "__main__":
    main()
