"""Tables the benchmarks print: the training benchmark's fixed-width table, and Markdown tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: the Markdown helpers need none of the training code
    from harlit.bench.train_config import Result


def format_table(results: list[Result]) -> str:
    """One row per training-benchmark figure: pipeline and ceiling samples/s, their ratio, step periods."""
    lines = [
        f"{'stage':<8} {'source':<9} {'format':<6} {'loader':<8} {'workers':>7} {'prefetch':>8} {'batch':>5} "
        f"{'pipeline/s':>11} {'ceiling/s':>10} {'ratio':>6} {'step ms':>8} {'epoch-end +ms':>13}"
    ]
    for r in results:
        extra = r.periods.get("epoch_boundary_extra_ms")
        figures = (
            f"{r.pipeline_samples_per_s:>11.1f} {r.ceiling_samples_per_s:>10.1f} {r.ratio:>6.2f} "
            f"{r.periods.get('median_step_ms', float('nan')):>8.2f} "
            f"{'-' if extra is None else f'{extra:.1f}':>13}"
            if r.error is None
            else f"failed: {r.error[:80]}"
        )
        lines.append(
            f"{r.stage:<8} {r.source:<9} {r.cache_format:<6} {r.variant:<8} "
            f"{str(r.loader.get('num_workers', '-')):>7} {str(r.loader.get('prefetch_factor', '-')):>8} "
            f"{r.batch_size:>5} {figures}"
        )
    return "\n".join(lines)


def markdown_header(columns: Sequence[str]) -> str:
    """The first two lines of a Markdown table: `| a | b |` and `|---|---|`."""
    return markdown_row(columns) + "\n|" + "---|" * len(columns)


def markdown_row(cells: Sequence[object]) -> str:
    """One line of a Markdown table (cells already formatted)."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole Markdown table: the header, then one line per row."""
    return "\n".join([markdown_header(columns), *(markdown_row(row) for row in rows)])
