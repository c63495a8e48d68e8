"""The stage-1 encoder file: the one type that writes, reads and checks `encoder.pt`.

A stage-1 run leaves its encoder in its run directory and in the registry as a plain dict that
`torch.load(path, weights_only=True)` reads, with no pickled code:

    format, format_version   "harlit-encoder", FORMAT_VERSION
    modality                 "imu" | "video"
    state_dict               the encoder's weights (no head)
    config                   the resolved stage-1 config (data, model, trainer, callbacks, seed, ...)
    preprocessing            what its inputs went through (harlit.data.preprocess.record_of), IMU statistics included
    key                      its registry key (harlit.stage1.registry_key)

Stage 2 builds the encoder from `config["model"][modality]` and prepares its data as `config["data"]`
and `preprocessing` say (harlit.contract). A Lightning checkpoint of a stage-1 run is read the same way,
from its hyper-parameters and the run's config.yaml beside its checkpoints/ folder. Every file is read
weights-only (harlit.safe_load): one that holds pickled objects is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from harlit.errors import HarlitError
from harlit.io import atomic_write_bytes, create_exclusive
from harlit.safe_load import load_weights_only

ENCODER_FILE = "encoder.pt"
FORMAT = "harlit-encoder"
FORMAT_VERSION = 2
MODALITIES = ("imu", "video")
RETRAIN_HINT = "stage 2 retrains a missing encoder by itself, or train it with its stage-1 experiment"


@dataclass(frozen=True)
class EncoderFile:
    """One stage-1 encoder with everything stage 2 needs to build it and feed it."""

    modality: str
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    preprocessing: dict[str, Any]
    key: dict[str, Any]
    path: Path | None = None

    @property
    def encoder_config(self) -> dict[str, Any]:
        """The encoder's config node, `model.<modality>` of the stage-1 run."""
        return dict(self.config["model"][self.modality])

    @property
    def data_config(self) -> dict[str, Any]:
        return dict(self.config["data"])

    @property
    def source(self) -> str:
        return (
            f"the stage-1 {self.modality} encoder {self.path}"
            if self.path
            else f"the {self.modality} encoder"
        )

    def payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "modality": self.modality,
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "config": self.config,
            "preprocessing": self.preprocessing,
            "key": self.key,
        }

    def save(self, path: Path, exclusive: bool = False) -> bool:
        """Write atomically; `exclusive`: never replace an existing file (False if one was there)."""
        payload = self.payload()
        if exclusive:
            return create_exclusive(path, lambda handle: torch.save(payload, handle))
        atomic_write_bytes(path, lambda handle: torch.save(payload, handle))
        return True

    def same_weights(self, other: EncoderFile) -> bool:
        a, b = self.state_dict, other.state_dict
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    @classmethod
    def load(cls, path: str | Path, modality: str | None = None) -> EncoderFile:
        """Read an encoder file (or a stage-1 run's Lightning checkpoint); every missing part is one sentence.

        `modality`: the encoder the caller needs; a file holding the other one is refused.
        """
        path = Path(path).expanduser()
        what = f"the {modality} checkpoint" if modality else "the encoder file"
        if not path.is_file():
            fix = f"fix model.{modality}_ckpt" if modality else "check the path"
            raise HarlitError(f"{what} {path} does not exist; train stage 1 or {fix}.")
        payload = _read(path, what)
        if isinstance(payload, dict) and "state_dict" in payload and "pytorch-lightning_version" in payload:
            encoder = _from_lightning_checkpoint(payload, path, modality)
        else:
            encoder = _from_payload(payload, path, what)
        if modality and encoder.modality != modality:
            raise HarlitError(
                f"the checkpoint {path} holds a {encoder.modality} encoder, not a {modality} one; "
                f"point model.{modality}_ckpt to a stage-1 {modality} checkpoint."
            )
        return encoder


def _read(path: Path, what: str) -> Any:
    return load_weights_only(path, what, fix="delete it and train stage 1 again")


def _require(value: Any, part: str, path: Path) -> Any:
    if value is None or (isinstance(value, (dict, list)) and not value):
        raise HarlitError(
            f"the encoder file {path} has no {part}; it is damaged or not a harlit stage-1 encoder: "
            f"delete it ({RETRAIN_HINT})."
        )
    return value


def _from_payload(payload: Any, path: Path, what: str) -> EncoderFile:
    if not isinstance(payload, dict) or ("format" not in payload and "encoder_state_dict" not in payload):
        raise HarlitError(
            f"{what} {path} is not a harlit stage-1 encoder; give a stage-1 run's encoder.pt or checkpoints/*.ckpt."
        )
    if payload.get("format") != FORMAT:
        # Format 1 (before the stage contract) carried no stage-1 config: stage 2 cannot know how to feed it.
        raise HarlitError(
            f"the encoder file {path} predates encoder-file format {FORMAT_VERSION} and does not say how it was "
            f"trained; it will not be used: delete it ({RETRAIN_HINT})."
        )
    version = int(payload.get("format_version", 0))
    if version > FORMAT_VERSION:
        raise HarlitError(
            f"the encoder file {path} has format {version}, newer than this harlit reads ({FORMAT_VERSION}); update harlit."
        )
    modality = payload.get("modality")
    if modality not in MODALITIES:
        raise HarlitError(
            f"the encoder file {path} names no modality (imu or video); it is damaged: delete it."
        )
    config = _require(payload.get("config"), "stage-1 config", path)
    _require((config.get("model") or {}).get(modality), f"model.{modality} config", path)
    _require(config.get("data"), "data config", path)
    preprocessing = _require(payload.get("preprocessing"), "preprocessing record", path)
    _require(preprocessing.get(modality), f"{modality} preprocessing record", path)
    if modality == "imu":
        _require(preprocessing["imu"].get("mean"), "IMU statistics (preprocessing.imu.mean)", path)
    return EncoderFile(
        modality=modality,
        state_dict=_require(payload.get("state_dict"), "weights", path),
        config=config,
        preprocessing=preprocessing,
        key=dict(payload.get("key") or {}),
        path=path,
    )


def _from_lightning_checkpoint(payload: Mapping[str, Any], path: Path, modality: str | None) -> EncoderFile:
    hparams = payload.get("hyper_parameters") or {}
    modality = modality or str(hparams.get("modality"))
    prefix = f"encoders.{modality}."
    state = {k[len(prefix) :]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise HarlitError(
            f"the checkpoint {path} holds no {modality} encoder; point model.{modality}_ckpt to a stage-1 "
            f"{modality} checkpoint."
        )
    run_config = path.parent.parent / "config.yaml"  # <run dir>/checkpoints/<name>.ckpt
    if not run_config.is_file():
        raise HarlitError(
            f"the checkpoint {path} has no config.yaml in its run directory {path.parent.parent}, so how its "
            f"encoder was trained is unknown; give that run's encoder.pt instead."
        )
    config = OmegaConf.to_container(OmegaConf.load(run_config), resolve=True)
    assert isinstance(config, dict)
    preprocessing = _require(payload.get("harlit_preprocessing"), "preprocessing record", path)
    return EncoderFile(
        modality=modality,
        state_dict=state,
        config=config,
        preprocessing=preprocessing,
        key={},
        path=path,
    )
