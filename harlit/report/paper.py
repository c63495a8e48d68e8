"""The paper's own Table 2, the only numbers the report quotes rather than measures.

Top-1 / Top-5 / macro F1 in %, quoted from issue 4; the paper reports no std. Every place the report
shows paper numbers (report.md, report.csv) reads them from PAPER_TABLE2, so they live only here.
"""

from __future__ import annotations

from dataclasses import dataclass

QUOTED_SOURCE = "quoted: paper Table 2"


@dataclass(frozen=True)
class PaperResult:
    """One row of the paper's Table 2: all training data, no hidden classes."""

    dataset: str
    setup: str  # as harlit.report.setups names it: "IMU", "RGB" or "IMU+RGB"
    top1: float
    top5: float
    f1_macro: float

    @property
    def metrics(self) -> dict[str, float]:
        """{"top1": ..., "top5": ..., "f1_macro": ...}, in the column order of Table 2."""
        return {"top1": self.top1, "top5": self.top5, "f1_macro": self.f1_macro}


# In the order the report lists them.
PAPER_TABLE2: tuple[PaperResult, ...] = (
    PaperResult("utd_mhad", "IMU", 85.42, 97.14, 85.44),
    PaperResult("utd_mhad", "RGB", 74.76, 95.14, 74.09),
    PaperResult("utd_mhad", "IMU+RGB", 96.05, 100.0, 96.05),
    PaperResult("mmact", "IMU", 64.28, 90.57, 65.45),
    PaperResult("mmact", "RGB", 71.89, 94.92, 72.86),
    PaperResult("mmact", "IMU+RGB", 84.05, 98.96, 84.78),
)
