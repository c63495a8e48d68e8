"""`python -m harlit.report DIR [DIR...]`: Table 2, Fig. 2 and Fig. 3 from the metrics.json of finished runs.

Outputs (in --out, default the first DIR): report.md, report.csv, data_ratio.png, zero_shot.png,
robustness.png (where evaluations with a modality missing exist) and confusion_matrix.png of one run
(--confusion RUN_DIR, or the first full-data fusion run).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from harlit.errors import exit_on_user_error
from harlit.report.make import make_report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harlit.report", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "dirs", nargs="+", type=Path, help="folders to search for metrics.json (runs, sweeps)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default: the first DIR)"
    )
    parser.add_argument(
        "--confusion",
        type=Path,
        default=None,
        help="run folder (or confusion_matrix.json) to draw; default: the first full-data fusion run",
    )
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> None:
    """Write the report and print the path of every file written, one per line."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    written = make_report(args.dirs, args.out, args.confusion)
    for path in written.values():
        print(path)
