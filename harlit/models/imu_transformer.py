"""IMU encoder: a Conv1d front end and a small Transformer encoder over time, pooled to one vector.

Modelled on the CNNTransformer in the paper authors' public code (models/inertial.py of
hyeong96/Multimodal-Contrastive-Learning-HAR-with-HNS, checked): padded Conv1d-BatchNorm-ReLU blocks,
sinusoidal positional encoding and an nn.TransformerEncoder over the time steps. Where this differs: the
output is pooled (mean over time, or a learned [CLS] token) instead of flattened, so `out_dim` does not
depend on the sequence length; the front end is two blocks of width d_model (there: three, 32/64/128 wide);
the layers are batch-first and pre-norm with a final LayerNorm (there: post-norm, d_model 128, 2 heads,
feed-forward 2048); a learned positional encoding is an option.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harlit.errors import HarlitError
from harlit.models.imu_checks import (
    check_imu_input,
    require_choice,
    require_odd,
    require_positive,
    require_probability,
)
from harlit.models.token_transformer import token_transformer

POSITIONAL = ("sinusoidal", "learned")
POOLING = ("mean", "cls")


def sinusoidal_encoding(length: int, d_model: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(length, d_model): sines on even features and cosines on odd ones (Vaswani et al., 2017)."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(
        torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model)
    )
    encoding = torch.zeros(length, d_model, device=device)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)
    return encoding.to(dtype)


class ConvTransformerEncoder(nn.Module):
    """(Conv1d-BN-ReLU) x conv_layers -> + positional encoding -> TransformerEncoder -> mean or [CLS].

    The convolutions are padded (the length is kept); inputs shorter than their receptive field are
    refused, as the other IMU encoders refuse theirs. A learned positional encoding holds `max_length`
    positions, so longer inputs are refused too. Input: (batch, channels, time). Output: (batch, d_model).
    """

    def __init__(
        self,
        in_channels: int = 6,
        d_model: int = 64,
        conv_layers: int = 2,
        kernel_size: int = 3,
        num_layers: int = 2,
        nhead: int = 4,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
        positional: str = "sinusoidal",
        pooling: str = "mean",
        max_length: int = 512,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("d_model", d_model),
            ("conv_layers", conv_layers),
            ("num_layers", num_layers),
            ("nhead", nhead),
            ("dim_feedforward", dim_feedforward),
            ("max_length", max_length),
        ):
            require_positive(name, value)
        require_odd("kernel_size", kernel_size)
        require_probability("dropout", dropout)
        require_choice("positional", positional, POSITIONAL)
        require_choice("pooling", pooling, POOLING)
        if d_model % nhead or d_model % 2:
            raise HarlitError(
                f"model.imu.d_model ({d_model}) must be even and a multiple of model.imu.nhead ({nhead})."
            )
        front: list[nn.Module] = []
        previous = in_channels
        for _ in range(conv_layers):
            front += [
                nn.Conv1d(previous, d_model, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm1d(d_model),
                nn.ReLU(inplace=True),
            ]
            previous = d_model
        self.front = nn.Sequential(*front)
        # Small random starts, as for the attention head's tokens: a zero start would give every position
        # (and [CLS]) the same gradient.
        self.position = (
            nn.Parameter(torch.randn(max_length, d_model) * 0.02) if positional == "learned" else None
        )
        self.cls_token = nn.Parameter(torch.randn(1, 1, d_model) * 0.02) if pooling == "cls" else None
        self.input_dropout = nn.Dropout(dropout)
        self.encoder = token_transformer(d_model, nhead, num_layers, dim_feedforward, dropout)
        self.in_channels = in_channels
        self.out_dim = d_model
        self.receptive_field = 1 + conv_layers * (kernel_size - 1)
        self.max_length = max_length
        self.pooling = pooling

    def forward(self, imu: torch.Tensor) -> torch.Tensor:
        check_imu_input(
            imu, self.in_channels, self.receptive_field, "use a smaller model.imu.kernel_size or conv_layers"
        )
        length = imu.shape[-1]
        if self.position is not None and length > self.max_length:
            raise HarlitError(
                f"IMU sequences of {length} samples are longer than the learned positional encoding's "
                f"{self.max_length} positions; raise model.imu.max_length or lower data.imu_length."
            )
        tokens = self.front(imu).transpose(1, 2)  # (batch, time, d_model)
        if self.position is None:
            tokens = tokens + sinusoidal_encoding(length, tokens.shape[-1], tokens.device, tokens.dtype)
        else:
            tokens = tokens + self.position[:length].to(tokens.dtype)
        if self.cls_token is not None:
            cls = self.cls_token.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
            tokens = torch.cat([cls, tokens], dim=1)
        encoded = self.encoder(self.input_dropout(tokens))
        if self.cls_token is not None:
            return encoded[:, 0]
        return encoded.mean(dim=1)
