"""Self-contained model files: what a run leaves for later use, and `load_model` to use it.

`<run dir>/model.pt` is a plain dict that `torch.load(path, weights_only=True)` reads, with no pickled
code: the weights, the model config, the class names and modalities, and the preprocessing record
(`harlit.data.preprocess`). `load_model` rebuilds the model from it (or from a run directory, or a
Lightning checkpoint) with no registry, dataset or Hydra config tree.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from harlit.build import build_classifier
from harlit.config import to_plain
from harlit.data import preprocess
from harlit.errors import HarlitError
from harlit.io import atomic_write_bytes
from harlit.models.classifier import HARClassifier
from harlit.safe_load import load_weights_only, pickled_code_error, refused_as_code

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
FORMAT = "harlit-model"
FORMAT_VERSION = 1


def portable_model_config(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """`cfg.model` as plain data that rebuilds the architecture alone: no stage-1 files, no download."""
    model = dict(to_plain(cfg.model) if isinstance(cfg, DictConfig) else cfg["model"])
    model.update(imu_ckpt=None, video_ckpt=None)
    if isinstance(model.get("video"), dict):
        model["video"] = {**model["video"], "pretrained": "none"}
    return model


def model_file_payload(classifier: HARClassifier, cfg: DictConfig) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "harlit_version": version("harlit"),
        "modality": classifier.modality,
        "modalities": list(classifier.modalities),
        "class_names": list(classifier.class_names),
        "model_config": portable_model_config(cfg),
        "data_config": to_plain(cfg.data),
        "preprocessing": classifier.preprocessing,
        "state_dict": {k: v.detach().cpu() for k, v in classifier.state_dict().items()},
    }


def save_model_file(path: Path, classifier: HARClassifier, cfg: DictConfig) -> None:
    payload = model_file_payload(classifier, cfg)
    atomic_write_bytes(path, lambda handle: torch.save(payload, handle))


class TrainedModel:
    """A trained harlit model in eval mode, with its preprocessing: `predict(video=..., imu=...)`."""

    def __init__(
        self, classifier: HARClassifier, source: Path, data_config: dict[str, Any] | None = None
    ) -> None:
        self.classifier = classifier.eval()
        self.source = source
        self.data_config = data_config or {}

    @property
    def class_names(self) -> list[str]:
        return self.classifier.class_names

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.classifier.modalities)

    @property
    def preprocessing(self) -> dict[str, Any]:
        return self.classifier.preprocessing

    @property
    def sensor_rate(self) -> float | None:
        """MMAct: the Hz its four sensors were fused at (older model files: from their data config)."""
        rate = (self.preprocessing.get("imu") or {}).get("sensor_rate") or self.data_config.get("sensor_rate")
        return None if rate is None else float(rate)

    def to(self, device: str | torch.device) -> TrainedModel:
        self.classifier.to(device)
        return self

    def prepare(
        self,
        video: str | Path | torch.Tensor | None = None,
        imu: str | Path | Sequence[str | Path] | np.ndarray | None = None,
    ) -> dict[str, torch.Tensor]:
        """One sample as the model's batch of one: files are read and prepared as in training.

        `video`: a file PyAV decodes, or a prepared uint8 clip (3, frames, size, size). `imu`: a .mat
        (UTD-MHAD d_iner), .csv or .npy file, an MMAct recording (a list of its four sensor CSVs, or a
        folder holding them), or a raw (time, channels) array.
        """
        if video is None and imu is None:
            raise HarlitError(f"give video=, imu= or both; this model uses {' and '.join(self.modalities)}.")
        for name, value in (("video", video), ("imu", imu)):
            if value is not None and name not in self.modalities:
                raise HarlitError(
                    f"this model uses {' and '.join(self.modalities)} only; leave out {name}={value if isinstance(value, (str, Path)) else '...'}."
                )
        batch: dict[str, torch.Tensor] = {}
        if video is not None:
            clip = (
                video
                if isinstance(video, torch.Tensor)
                else preprocess.prepare_video(video, self.preprocessing)
            )
            batch["video"] = clip.unsqueeze(0)
        if imu is not None:
            values = imu
            source = str(imu) if isinstance(imu, (str, Path)) else "the IMU recording"
            if isinstance(imu, (str, Path, list, tuple)):
                values = preprocess.read_imu_recording(imu, self.sensor_rate)
                source = (
                    str(imu) if isinstance(imu, (str, Path)) else f"the sensor CSVs {[str(p) for p in imu]}"
                )
            receptive_field = self.classifier.encoders["imu"].receptive_field
            batch["imu"] = preprocess.prepare_imu(
                values, self.preprocessing, receptive_field, source
            ).unsqueeze(0)
        return batch

    def missing(self, batch: Mapping[str, torch.Tensor]) -> list[str]:
        """The model's modalities a batch lacks: the head's missing-modality value stands in for them."""
        return [m for m in self.modalities if m not in batch]

    @torch.no_grad()
    def predict_batch(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Class probabilities (batch, classes) of prepared inputs."""
        device = self.classifier.device
        moved = {k: v.to(device) for k, v in batch.items()}
        return self.classifier(moved).float().softmax(dim=1).cpu()

    def predict(
        self,
        video: str | Path | torch.Tensor | None = None,
        imu: str | Path | Sequence[str | Path] | np.ndarray | None = None,
    ) -> torch.Tensor:
        """Class probabilities (classes,) of one recording pair; either modality may be left out."""
        return self.predict_batch(self.prepare(video=video, imu=imu))[0]

    def top_k(self, probabilities: torch.Tensor, k: int = 5) -> list[tuple[str, float]]:
        values, indices = probabilities.topk(min(k, len(probabilities)))
        return [(self.class_names[int(i)], float(v)) for v, i in zip(values, indices, strict=True)]


def _rebuild(payload: dict[str, Any], path: Path) -> HARClassifier:
    with torch.random.fork_rng(
        devices=[]
    ):  # building draws random initial weights; leave the caller's RNG be
        classifier = build_classifier(
            payload["model_config"], len(payload["class_names"]), payload["class_names"]
        )
    try:
        classifier.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise HarlitError(
            f"the model file {path} does not match its own config ({str(err)[:160]}); it is damaged."
        ) from None
    classifier.preprocessing = payload.get("preprocessing") or {}
    return classifier


def _read_model_file(path: Path) -> dict[str, Any]:
    payload = load_weights_only(path, "the model file", fix="give the model.pt of a harlit run")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise HarlitError(
            f"{path} is not a harlit model file; give the model.pt a harlit run wrote, or its run directory."
        )
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise HarlitError(
            f"{path} has model-file format {payload['format_version']}, newer than this harlit reads "
            f"({FORMAT_VERSION}); update harlit."
        )
    return payload


def load_model(path: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """A trained model from a model file, a run directory (its model.pt) or a Lightning `.ckpt`."""
    path = Path(path).expanduser()
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise HarlitError(
                f"the run directory {path} holds no {MODEL_FILE}; give a finished harlit run's directory, "
                "or one of its checkpoints/*.ckpt."
            )
        path = path / MODEL_FILE
    if not path.is_file():
        raise HarlitError(f"the model {path} does not exist; give a model.pt, a run directory or a .ckpt.")
    if path.suffix == ".ckpt":
        try:
            classifier = HARClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
        except HarlitError:
            raise
        except Exception as err:
            if refused_as_code(err):
                raise pickled_code_error("the checkpoint", path) from None
            raise HarlitError(
                f"the checkpoint {path} cannot rebuild a harlit model ({type(err).__name__}); give a checkpoint "
                "of a harlit run, or its model.pt."
            ) from None
        run_config = path.parent.parent / "config.yaml"  # <run dir>/checkpoints/<name>.ckpt
        data_config = to_plain(OmegaConf.load(run_config).get("data")) if run_config.is_file() else {}
    else:
        payload = _read_model_file(path)
        classifier = _rebuild(payload, path)
        data_config = payload.get("data_config") or {}
    return TrainedModel(classifier, path, data_config).to(device)
