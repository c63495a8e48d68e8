"""The contract between the stages: a stage-1 encoder decides how stage 2 builds and feeds it.

Stage 2 builds each encoder from the `model.<modality>` config its stage-1 run trained, and prepares
that modality's data with the stage-1 run's settings (`ENCODER_DATA_KEYS`; the IMU statistics come from
the encoder's preprocessing record, harlit.data.preprocess). Stage 2 keeps its own knobs only:
`STAGE2_ENCODER_KEYS`, the head, modality dropout, the optimiser and its recipe. An override on the
stage-2 command line that contradicts an encoder is refused in one sentence naming both values; the way
to change an encoder is `stage1_overrides.<modality>=[...]`, which trains (or finds) another one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from harlit.config import override_key, task_overrides, to_plain
from harlit.errors import HarlitError

ENCODER_MODALITIES = ("imu", "video")
# Data settings that shape an encoder's inputs: stage 2 takes them from the encoder's stage-1 run.
ENCODER_DATA_KEYS = {
    "imu": ("imu_channels", "imu_devices", "imu_length", "sensor_rate"),
    "video": ("num_frames", "frame_size", "video_resize"),
}
# Encoder settings that are stage 2's own: which video blocks it fine-tunes, and the memory layout.
STAGE2_ENCODER_KEYS = {"imu": (), "video": ("trainable_blocks", "channels_last")}
# The config group that chooses each encoder; a choice on a stage-2 command line trains (or finds) that
# encoder in stage 1 (harlit.stage1.stage1_config) and must agree with an explicit encoder file.
ENCODER_GROUPS = {"imu": "model/imu_encoder", "video": "model/video_encoder"}
# What tells two encoders apart: the class, and the torchvision architecture of a video encoder.
ENCODER_IDENTITY = ("_target_", "arch")


def _contract_keys(modality: str, encoder: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """`model.<m>.<k>` and `data.<k>` -> the value the encoder was trained with."""
    fixed = {f"model.{modality}.{k}": v for k, v in encoder.items() if k not in STAGE2_ENCODER_KEYS[modality]}
    fixed.update({f"data.{k}": data[k] for k in ENCODER_DATA_KEYS[modality] if k in data})
    return fixed


def _governing(key: str, fixed: Mapping[str, Any]) -> str | None:
    """The contract key an override key sets or lies below (model.imu.channels -> itself)."""
    for contract_key in fixed:
        if key == contract_key or key.startswith(contract_key + "."):
            return contract_key
    return None


def _value(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def check_overrides(
    cfg: DictConfig, modality: str, encoder: Mapping[str, Any], data: Mapping[str, Any], source: str
) -> None:
    """Refuse a stage-2 command-line override that contradicts what `source` was trained with."""
    fixed = _contract_keys(modality, encoder, data)
    for override in task_overrides(cfg):
        key = override_key(override)
        if key == ENCODER_GROUPS[modality]:
            chosen = {k: cfg.model[modality].get(k) for k in ENCODER_IDENTITY}
            trained = {k: encoder.get(k) for k in ENCODER_IDENTITY}
            if chosen != trained:
                raise HarlitError(
                    f"{override.lstrip('+')} contradicts {source}, a {_encoder_name(trained)} encoder; drop the "
                    f"override to use that file, or drop model.{modality}_ckpt to train the chosen encoder."
                )
            continue
        governed = _governing(key, fixed)
        if governed is None:
            continue
        trained = _value(fixed[governed], key[len(governed) + 1 :]) if key != governed else fixed[governed]
        wanted = to_plain(OmegaConf.select(cfg, key, default=None))
        if wanted != trained:
            raise HarlitError(
                f"{key}={_show(wanted)} contradicts {source}, trained with {key}={_show(trained)}; drop the "
                f"override to use that encoder, or train another one with "
                f"'stage1_overrides.{modality}=[\"{key}={_show(wanted)}\"]'."
            )


def _encoder_name(identity: Mapping[str, Any]) -> str:
    return str(identity.get("arch") or str(identity.get("_target_")).rsplit(".", 1)[-1])


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value)


def adopt(cfg: DictConfig, encoders: Mapping[str, Any]) -> DictConfig:
    """A copy of a stage-2 config whose encoders and their data settings are those of `encoders`.

    `encoders`: modality -> harlit.encoder_file.EncoderFile. Each is checked against the command line first.
    """
    adopted = copy.deepcopy(cfg)
    with open_dict(adopted):
        for modality, encoder in encoders.items():
            trained, data = encoder.encoder_config, encoder.data_config
            check_overrides(cfg, modality, trained, data, encoder.source)
            own = {
                k: cfg.model[modality][k] for k in STAGE2_ENCODER_KEYS[modality] if k in cfg.model[modality]
            }
            node = {**trained, **to_plain(own)}
            if "pretrained" in node:
                node["pretrained"] = "none"  # the stage-1 weights replace any pretrained initialisation
            adopted.model[modality] = node
            for key in ENCODER_DATA_KEYS[modality]:
                if key in data and key in adopted.data:
                    adopted.data[key] = data[key]
    return adopted
