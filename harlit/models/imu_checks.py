"""Checks every IMU encoder shares: its constructor arguments and its (batch, channels, time) input.

Each failure is one HarlitError sentence that names the setting to change (`model.imu.<name>` or
`data.imu_length`), as harlit.models.imu_cnn words its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harlit.errors import HarlitError


def require_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HarlitError(f"model.imu.{name} must be a positive integer, not {value!r}.")


def require_positive_list(name: str, values: Sequence[int]) -> None:
    if len(values) == 0 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise HarlitError(
            f"model.imu.{name} must be a non-empty list of positive integers, not {list(values)}."
        )


def require_odd(name: str, value: int) -> None:
    """Padded convolutions keep the length (and residual sums line up) only with an odd kernel."""
    require_positive(name, value)
    if value % 2 == 0:
        raise HarlitError(f"model.imu.{name} must be odd so that padding keeps the length, not {value}.")


def require_probability(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise HarlitError(f"model.imu.{name} must be in [0, 1), not {value}.")


def require_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise HarlitError(f"model.imu.{name} must be one of {list(choices)}, not {value!r}.")


def check_imu_input(imu: torch.Tensor, in_channels: int, receptive_field: int, shorten: str) -> None:
    """(batch, in_channels, time) with at least `receptive_field` samples; `shorten` says which encoder
    setting lowers that minimum, for the message."""
    if imu.dim() != 3 or imu.shape[1] != in_channels:
        raise HarlitError(
            f"the IMU encoder expects (batch, {in_channels}, time), got {tuple(imu.shape)}; "
            "set model.imu.in_channels to the dataset's channel count."
        )
    if imu.shape[-1] < receptive_field:
        raise HarlitError(
            f"IMU sequences of {imu.shape[-1]} samples are shorter than the encoder's receptive field of "
            f"{receptive_field}; raise data.imu_length or {shorten}."
        )
