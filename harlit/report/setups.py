"""The report's vocabulary: the metrics it reads, the setups (IMU, RGB, IMU+RGB, IMU*, ...) runs fall into,
and the model variants (fusion head, modality dropout) that keep runs of one setup apart."""

from __future__ import annotations

from harlit.errors import HarlitError

METRICS = ("top1", "top5", "f1_macro", "top1_hidden", "top1_seen")
METRIC_LABELS = dict(zip(METRICS, ("Top-1", "Top-5", "macro F1", "Top-1 hidden", "Top-1 seen"), strict=True))
BASE_SETUPS = {"imu": "IMU", "video": "RGB", "fusion": "IMU+RGB"}
TABLE2_ROWS = {"IMU": "IMU only", "RGB": "video only", "IMU+RGB": "IMU + video"}
ZERO_SHOT_SETUPS = ("IMU*", "RGB*", "IMU*+RGB", "RGB*+IMU", "IMU*+RGB*")
# With nothing hidden, each zero-shot setup is its plain counterpart.
ZERO_SHOT_BASELINE = {
    "IMU*": "IMU",
    "RGB*": "RGB",
    "IMU*+RGB": "IMU+RGB",
    "RGB*+IMU": "IMU+RGB",
    "IMU*+RGB*": "IMU+RGB",
}


# The head a metrics.json without "head" had (older runs): the paper's fusion head, stage 1's linear one.
PAPER_FUSION_HEAD = "concat_mlp"
STAGE1_HEAD = "linear"
# Fusion heads in the order the report lists them (the paper's first); others follow by name.
HEAD_ORDER = (PAPER_FUSION_HEAD, "late", "gated", "attention")


def is_fusion(setup: str) -> bool:
    """Whether a setup ('IMU+RGB', 'IMU*+RGB', ...) is a stage-2 fusion model."""
    return "+" in setup


def default_head(setup: str) -> str:
    """The head of the paper's setting for a setup: concat_mlp for fusion, linear for stage 1."""
    return PAPER_FUSION_HEAD if is_fusion(setup) else STAGE1_HEAD


def head_rank(head: str) -> tuple[int, str]:
    """Sort key of a head: HEAD_ORDER first, then any other by name."""
    return (HEAD_ORDER.index(head), "") if head in HEAD_ORDER else (len(HEAD_ORDER), head)


def variant_name(head: str, modality_dropout: float) -> str:
    """A model variant as the report writes it, e.g. 'late, p=0.3'."""
    return f"{head}, p={modality_dropout:g}"


def setup_of(modality: str, hidden_from: str, num_hidden: int) -> str:
    """'IMU', 'RGB', 'IMU+RGB', or the zero-shot setup whose starred modality never saw the hidden classes."""
    if modality not in BASE_SETUPS:
        raise HarlitError(
            f"unknown modality {modality!r} in a metrics.json; expected one of {sorted(BASE_SETUPS)}."
        )
    if num_hidden == 0:
        return BASE_SETUPS[modality]
    if modality != "fusion":
        return BASE_SETUPS[modality] + "*"
    return {"imu": "IMU*+RGB", "video": "RGB*+IMU"}.get(hidden_from, "IMU*+RGB*")
