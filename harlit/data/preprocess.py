"""A trained model's preprocessing: the record it carries, and the same steps applied to new files.

The record is written into every model file (`harlit.trained`) and stage-1 encoder file, so that
prediction and evaluation prepare inputs exactly as training did: IMU resampled onto normalised time and
normalised with the training statistics, video frames sampled at the centres of equal segments and
resized the same way, whatever data the model is later used on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from harlit.constants import KINETICS_MEAN, KINETICS_STD
from harlit.data.base import HARDataModule
from harlit.data.clip_format import ClipSettings
from harlit.data.files import BadFile
from harlit.data.manifest import read_imu_file
from harlit.data.transforms import normalise_imu, resample_sequence
from harlit.data.utd_mhad import read_inertial
from harlit.data.video_decode import VideoDecodeError, decode_clip
from harlit.errors import HarlitError

# S3D normalises clips itself with these Kinetics-400 statistics; recorded for readers of a model file.
VIDEO_NORMALISATION = {"mean": list(KINETICS_MEAN), "std": list(KINETICS_STD)}
# Data keys that the record fixes: evaluation and prediction must prepare inputs as training did.
RECORD_DATA_KEYS = {
    "imu": {"imu_channels": "channels", "imu_length": "imu_length"},
    "video": {"num_frames": "num_frames", "frame_size": "frame_size", "video_resize": "resize"},
}


def record_of(datamodule: HARDataModule) -> dict[str, Any]:
    """What a model trained on `datamodule` expects of its inputs (plain lists and numbers)."""
    record: dict[str, Any] = {"dataset": datamodule.name}
    if "imu" in datamodule.modalities:
        stats = datamodule.imu_stats
        padded = datamodule.imu_length is None
        table = datamodule.table
        record["imu"] = {
            "channels": int(datamodule.imu_channels) if datamodule.imu_channels is not None else None,
            "devices": [list(d) for d in datamodule.imu_devices],
            "imu_length": datamodule.imu_length,  # the data setting: null = native rate, zero-padded
            "length": int(table.imu.shape[-1]) if padded and table is not None else datamodule.imu_length,
            "resampling": "none: native rate, zero-padded" if padded else "linear, onto normalised time",
            "mean": stats[0].flatten().tolist() if stats is not None else None,
            "std": stats[1].flatten().tolist() if stats is not None else None,
        }
    if "video" in datamodule.modalities:
        settings = getattr(datamodule, "clip_settings", None)
        record["video"] = {
            "num_frames": int(datamodule.num_frames),
            "frame_size": int(datamodule.frame_size),
            "resize": settings.resize if settings is not None else "squash",
            "frame_sampling": "centres of equal segments of the clip",
            "normalisation": VIDEO_NORMALISATION,
        }
    return record


def data_overrides(record: dict[str, Any]) -> dict[str, Any]:
    """The data keys a model's record fixes, e.g. {"imu_length": 96, "num_frames": 16, ...}."""
    out = {}
    for modality, keys in RECORD_DATA_KEYS.items():
        for data_key, record_key in keys.items():
            value = (record.get(modality) or {}).get(record_key)
            if value is not None:
                out[data_key] = value
    return out


def imu_statistics(record: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
    imu = record.get("imu") or {}
    if imu.get("mean") is None:
        return None
    mean = torch.tensor(imu["mean"], dtype=torch.float32).view(-1, 1)
    std = torch.tensor(imu["std"], dtype=torch.float32).view(-1, 1)
    return mean, std


def use_encoder_preprocessing(datamodule: HARDataModule, record: dict[str, Any], source: str) -> None:
    """Feed a set-up datamodule to an encoder as it was fed in training (stage 2): same inputs, same statistics.

    `record` is the encoder's preprocessing record. The data settings themselves were taken from the
    encoder's stage-1 run (harlit.contract); this checks that they took, normalises IMU with the encoder's
    statistics, and zero-pads native-rate IMU to the length the encoder was trained on.
    """
    ours = record_of(datamodule)
    for modality in datamodule.modalities:
        trained = record.get(modality)
        if trained is None:
            continue
        for key in ("channels", "imu_length", "num_frames", "frame_size", "resize"):
            if key in trained and trained[key] != ours[modality].get(key):
                raise HarlitError(
                    f"{source} was trained on {modality} with {key}={trained[key]}, but this run prepares "
                    f"{ours[modality].get(key)}; use an encoder trained on this data's {modality} layout."
                )
    if "imu" not in datamodule.modalities or "imu" not in record:
        return
    stats = imu_statistics(record)
    if stats is None:
        raise HarlitError(f"{source} carries no IMU statistics; delete it so that stage 1 trains it again.")
    table = datamodule.table
    channels = table.imu.shape[1] if table is not None and table.imu is not None else None
    if channels is not None and channels != len(stats[0]):
        raise HarlitError(
            f"{source} was trained on {len(stats[0])} IMU channels but data.imu_channels gives {channels}; "
            "use an IMU encoder trained on this sensor layout."
        )
    if record["imu"].get("imu_length", 0) is None and table is not None and table.imu is not None:
        trained_length, length = int(record["imu"]["length"]), table.imu.shape[-1]
        if length > trained_length:
            raise HarlitError(
                f"this run's longest IMU recording has {length} samples, more than the {trained_length} that "
                f"{source} was trained on (native rate, zero-padded); use an encoder trained on this data."
            )
        table.imu = torch.nn.functional.pad(table.imu, (0, trained_length - length))
    datamodule.imu_stats = stats
    for split in (datamodule.train_set, datamodule.val_set, datamodule.test_set):
        if split is not None:
            split.imu_stats = stats


def read_imu_recording(path: str | Path) -> np.ndarray:
    """A (time, channels) recording from UTD-MHAD .mat (d_iner), .csv or .npy."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise HarlitError(f"the IMU file {path} does not exist; check the path.")
    try:
        return read_inertial(path) if path.suffix.lower() == ".mat" else read_imu_file(path)
    except BadFile as err:
        raise HarlitError(
            f"the IMU file {path} cannot be used ({err.reason}); check the recording."
        ) from None


def prepare_imu(
    values: np.ndarray, record: dict[str, Any], receptive_field: int, source: str
) -> torch.Tensor:
    """(channels, length) float32, resampled and normalised exactly as in training."""
    imu = record.get("imu")
    if imu is None:
        raise HarlitError(f"this model does not use IMU; leave out {source}.")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if imu["channels"] is not None and values.shape[1] != imu["channels"]:
        raise HarlitError(
            f"{source} has {values.shape[1]} IMU channels but the model was trained on {imu['channels']}; "
            "give a recording with the model's channel layout."
        )
    if len(values) < receptive_field:
        raise HarlitError(
            f"{source} has {len(values)} samples, fewer than the IMU encoder's receptive field of "
            f"{receptive_field}; give a longer recording."
        )
    length = int(imu["length"])
    if "imu_length" in imu and imu["imu_length"] is None:  # the paper's setting: native rate, zero padding
        if len(values) > length:
            raise HarlitError(
                f"{source} has {len(values)} samples, more than the {length} the model was trained on "
                "(native rate, zero-padded); give a shorter recording."
            )
        padded = np.zeros((length, values.shape[1]), dtype=np.float32)
        padded[: len(values)] = values
        prepared = normalise_imu(torch.as_tensor(padded.T), imu_statistics(record))
        prepared[:, len(values) :] = 0.0
        return prepared
    prepared = torch.as_tensor(resample_sequence(values, length).T.astype(np.float32))
    return normalise_imu(prepared, imu_statistics(record))


def prepare_video(path: str | Path, record: dict[str, Any]) -> torch.Tensor:
    """(3, num_frames, size, size) uint8, decoded and sampled exactly as the training cache was."""
    video = record.get("video")
    if video is None:
        raise HarlitError(f"this model does not use video; leave out the video {path}.")
    path = Path(path).expanduser()
    if not path.is_file():
        raise HarlitError(f"the video {path} does not exist; check the path.")
    settings = ClipSettings(int(video["num_frames"]), int(video["frame_size"]), str(video["resize"]))
    try:
        return torch.from_numpy(decode_clip(path, settings))
    except VideoDecodeError as err:
        raise HarlitError(f"the video {path} cannot be used ({err}); re-encode it or leave it out.") from None
