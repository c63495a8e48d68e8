"""The report's vocabulary: the metrics it reads and the setups (IMU, RGB, IMU+RGB, IMU*, ...) runs fall into."""

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
