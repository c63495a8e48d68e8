"""The report's vocabulary: the metrics it reads, the setups (IMU, RGB, IMU+RGB, IMU*, ...) runs fall into,
the model variants (fusion head, modality dropout) that keep runs of one setup apart, and whose each fusion
head is (harlit's concat_mlp, the paper's concat_mlp_paper)."""

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


# Fusion heads (conf/model/head/). concat_mlp is harlit's: the paper's concatenation and two linear layers
# with BatchNorm and dropout 0.5 added, the default of every harlit stage-2 experiment. concat_mlp_paper is
# the paper's head as stated (two linear layers, one non-linearity), the head of the *_paper experiments.
HARLIT_FUSION_HEAD = "concat_mlp"
PAPER_FUSION_HEAD = "concat_mlp_paper"
STAGE1_HEAD = "linear"
# A metrics.json without "head" (written before runs recorded it): its head is not known, and not assumed.
UNKNOWN_HEAD = "unknown"
HEAD_OWNERS = {HARLIT_FUSION_HEAD: "harlit's head", PAPER_FUSION_HEAD: "the paper's head"}
# Fusion heads in the order the report lists them; others follow by name, an unknown head last.
HEAD_ORDER = (HARLIT_FUSION_HEAD, PAPER_FUSION_HEAD, "late", "gated", "attention")
# An experiment whose name ends so is the paper's stated setting (conf/experiment/*_paper.yaml).
PAPER_SUFFIX = "_paper"


def is_fusion(setup: str) -> bool:
    """Whether a setup ('IMU+RGB', 'IMU*+RGB', ...) is a stage-2 fusion model."""
    return "+" in setup


def default_head(setup: str, recipe: str = "harlit") -> str:
    """The head a setup's experiments use by default: linear for stage 1; for fusion harlit's concat_mlp,
    or the paper's concat_mlp_paper in a *_paper experiment (recipe "paper")."""
    if not is_fusion(setup):
        return STAGE1_HEAD
    return PAPER_FUSION_HEAD if recipe == "paper" else HARLIT_FUSION_HEAD


def head_rank(head: str) -> tuple[int, str]:
    """Sort key of a head: HEAD_ORDER first, then any other by name, an unknown head last."""
    if head in HEAD_ORDER:
        return (HEAD_ORDER.index(head), "")
    return (len(HEAD_ORDER) + (head == UNKNOWN_HEAD), head)


def head_label(head: str) -> str:
    """A head as tables name it, with whose it is: 'concat_mlp (harlit's head)', 'head unknown', 'late'."""
    if head == UNKNOWN_HEAD:
        return "head unknown"
    return f"{head} ({HEAD_OWNERS[head]})" if head in HEAD_OWNERS else head


def variant_name(head: str, modality_dropout: float) -> str:
    """A model variant as the report writes it, e.g. 'late, p=0.3' or 'head unknown, p=0'."""
    return f"{'head unknown' if head == UNKNOWN_HEAD else head}, p={modality_dropout:g}"


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
