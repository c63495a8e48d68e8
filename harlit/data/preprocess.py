"""A trained model's preprocessing: the record it carries, and the same steps applied to new files.

The record is written into every model file (`harlit.trained`) and stage-1 encoder file, so that
prediction and evaluation prepare inputs exactly as training did: IMU resampled onto normalised time and
normalised with the training statistics, video frames sampled at the centres of equal segments and
resized the same way, whatever data the model is later used on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harlit.data.base import HARDataModule
from harlit.data.clip_format import ClipSettings
from harlit.data.files import BadFile
from harlit.data.manifest import read_imu_file
from harlit.data.mmact_sensors import SENSORS, fuse_sensors, read_sensor_csv, sensor_named
from harlit.data.transforms import fit_to_length, normalise_imu, resample_sequence
from harlit.data.utd_mhad import read_inertial
from harlit.data.video_decode import VideoDecodeError, decode_clip
from harlit.errors import HarlitError

log = logging.getLogger(__name__)

# Each video encoder normalises clips itself, with the mean and std of its torchvision Kinetics-400
# weights (harlit.models.video_encoder); recorded for readers of a model file.
VIDEO_NORMALISATION = "by the video encoder: the mean and std of its torchvision Kinetics-400 weights"
# How a zero-padded model takes a recording longer than its training length; model files written before
# this key existed follow the same rule.
LONGER_RULE = "central samples"
# Data keys that the record fixes: evaluation and prediction must prepare inputs as training did.
RECORD_DATA_KEYS = {
    "imu": {"imu_channels": "channels", "imu_length": "imu_length"},
    "video": {"num_frames": "num_frames", "frame_size": "frame_size", "video_resize": "resize"},
}


def record_of(datamodule: HARDataModule) -> dict[str, Any]:
    """What a model trained on `datamodule` expects of its inputs (plain lists and numbers)."""
    # The median training-clip duration (s): a timeline's default window (harlit.timeline); None if unknown.
    record: dict[str, Any] = {"dataset": datamodule.name, "clip_seconds": datamodule.clip_seconds()}
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
            # native rate: the rule that brings any recording to `length` (transforms.fit_to_length)
            "longer": LONGER_RULE if padded else None,
            # MMAct: the rate of the one timeline its four sensor CSVs are fused onto
            "sensor_rate": getattr(datamodule, "sensor_rate", None),
            "rate_hz": datamodule.imu_rate_hz,  # of the raw recordings; None where the dataset does not know
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
        table.imu, cut = fit_to_length(table.imu, int(record["imu"]["length"]))
        datamodule.imu_cut = cut
        if cut:
            log.warning(
                "%d IMU recording(s) are longer than the %d samples %s was trained on (native rate, "
                "zero-padded); each keeps its central %d samples.",
                cut,
                record["imu"]["length"],
                source,
                record["imu"]["length"],
            )
    datamodule.imu_stats = stats
    for split in (datamodule.train_set, datamodule.val_set, datamodule.test_set):
        if split is not None:
            split.imu_stats = stats


def read_imu_recording(
    source: str | Path | Sequence[str | Path], sensor_rate: float | None = None
) -> np.ndarray:
    """A (time, channels) recording: one UTD-MHAD .mat (d_iner), .csv or .npy file, or an MMAct recording
    (its four sensor CSVs, or a folder holding them) fused at `sensor_rate` Hz as the dataset does."""
    if isinstance(source, (str, Path)) and not Path(source).expanduser().is_dir():
        path = Path(source).expanduser()
        if not path.is_file():
            raise HarlitError(f"the IMU file {path} does not exist; check the path.")
        try:
            return read_inertial(path) if path.suffix.lower() == ".mat" else read_imu_file(path)
        except BadFile as err:
            raise HarlitError(
                f"the IMU file {path} cannot be used ({err.reason}); check the recording."
            ) from None
    files = sensor_files(source)
    if sensor_rate is None:
        raise HarlitError(
            f"this model was not trained on MMAct sensor recordings, so it has no sensor rate for {source}; "
            "give one (time, channels) file instead."
        )
    try:
        recordings = {sensor: read_sensor_csv(path)[:2] for sensor, path in files.items()}
        return fuse_sensors(recordings, float(sensor_rate), str(files[SENSORS[0]].parent))
    except BadFile as err:
        raise HarlitError(
            f"the sensor CSV {err.path} cannot be used ({err.reason}); check the recording."
        ) from None


def sensor_files(source: str | Path | Sequence[str | Path]) -> dict[str, Path]:
    """The four sensor CSVs of one MMAct recording, by sensor, from a list of files or a folder.

    A file's sensor is read from its name or the nearest folder named after one (`gyro_clip/...`).
    """
    if isinstance(source, (str, Path)):
        folder = Path(source).expanduser()
        candidates = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".csv" and p.is_file())
        where = f"the folder {folder}"
    else:
        candidates = [Path(p).expanduser() for p in source]
        where = "the IMU files given"
        absent = [p for p in candidates if not p.is_file()]
        if absent:
            raise HarlitError(f"the sensor CSV {absent[0]} does not exist; check the path.")
    found: dict[str, list[Path]] = {}
    for path in candidates:
        sensor = next((s for s in map(sensor_named, reversed(path.parts)) if s is not None), None)
        if sensor is not None:
            found.setdefault(sensor, []).append(path)
    missing = [s for s in SENSORS if s not in found]
    if missing:
        raise HarlitError(
            f"{where} hold no {missing[0]} sensor CSV; an MMAct recording is four CSVs ({', '.join(SENSORS)}), "
            "each named after its sensor or inside a folder that is (acc_phone_clip/...)."
        )
    doubled = next((s for s in SENSORS if len(found[s]) > 1), None)
    if doubled is not None:
        listed = ", ".join(str(p) for p in found[doubled][:2])
        raise HarlitError(
            f"{where} hold more than one {doubled} CSV ({listed}); give the four files of one recording "
            "as imu=[acc_phone.csv,acc_watch.csv,gyro.csv,orientation.csv]."
        )
    return {sensor: found[sensor][0] for sensor in SENSORS}


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
        recording = torch.as_tensor(values.T.astype(np.float32)).unsqueeze(0)
        fitted, cut = fit_to_length(recording, length)
        if cut:
            log.warning(
                "%s has %d samples, more than the %d the model was trained on (native rate, zero-padded); "
                "its central %d samples are used.",
                source,
                len(values),
                length,
                length,
            )
        return normalise_imu(fitted[0], imu_statistics(record))
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
