"""`python -m harlit.bench BENCHMARK [options]`: the command line of the benchmarks, one subcommand each.

    python -m harlit.bench train      # training pipeline vs model-only ceiling, profiles, loader variants
    python -m harlit.bench prepare    # building the video cache: decoders, cache formats, MMAct estimate
    python -m harlit.bench cache      # epoch from the cache vs on the fly; cache-format accuracy data
    python -m harlit.bench heads      # stage-2 step time of each fusion head
    python -m harlit.bench predict    # prediction throughput through harlit.load_model
    python -m harlit.bench encoders   # every encoder: parameters, FLOPs, model-only training-step time

`python -m harlit.bench BENCHMARK --help` describes each one.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from harlit.bench import cache, encoders, heads, predict, prepare, train
from harlit.errors import exit_on_user_error

BENCHMARKS: dict[str, ModuleType] = {
    "train": train,
    "prepare": prepare,
    "cache": cache,
    "heads": heads,
    "predict": predict,
    "encoders": encoders,
}


def summary(module: ModuleType) -> str:
    """The first paragraph of a benchmark module's docstring, without its "`python -m ...`: " lead."""
    first = " ".join((module.__doc__ or "").split("\n\n")[0].split())
    return first.split("`: ", 1)[1] if first.startswith("`python -m") and "`: " in first else first


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harlit.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, module in BENCHMARKS.items():
        sub = commands.add_parser(
            name,
            help=summary(module),
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
    return parser


def old_spelling(argv: Sequence[str]) -> str | None:
    """The sentence that names the new spelling, when `argv` has no benchmark first (before the benchmarks
    were subcommands, `python -m harlit.bench [options]` ran the training one); else None."""
    if not argv:
        return (
            "python -m harlit.bench now takes the benchmark first: `python -m harlit.bench train` for the "
            f"training benchmark, or one of {', '.join(BENCHMARKS)} (--help lists them)."
        )
    if argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        return (
            "python -m harlit.bench now takes the benchmark first: for the training benchmark, run "
            f"`python -m harlit.bench train {shlex.join(argv)}`."
        )
    return None


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> Any:
    """Run the benchmark named first in `argv`; returns what it returns (`train`: its JSON report)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    refusal = old_spelling(argv)
    if refusal is not None:
        print(f"harlit: error: {refusal}", file=sys.stderr, flush=True)  # one line, as exit_on_user_error's
        raise SystemExit(2)
    args = build_parser().parse_args(argv)
    args.command_line = "python -m harlit.bench " + " ".join(argv)
    return BENCHMARKS[args.benchmark].run(args)
