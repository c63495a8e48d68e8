"""IMU encoder: three Conv1d blocks (kernels 24/16/8) and global pooling to one feature vector."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from harlit.errors import HarlitError
from harlit.models.imu_checks import check_imu_input

# default: PyTorch's Conv1d initialisation (Kaiming-uniform); xavier_normal: as in the authors' public code.
INITS = ("default", "xavier_normal")


class IMUEncoder(nn.Module):
    """Conv1d -> [BatchNorm1d] -> ReLU -> Dropout, three times, then global pooling over time.

    Convolutions are unpadded, as in the paper, so the input must be at least `receptive_field` samples.
    Input: (batch, channels, time). Output: (batch, out_dim).
    """

    def __init__(
        self,
        in_channels: int = 6,
        channels: Sequence[int] = (32, 64, 96),
        kernel_sizes: Sequence[int] = (24, 16, 8),
        dropout: float = 0.1,
        pooling: str = "max",
        norm: str = "none",
        init: str = "default",
    ) -> None:
        super().__init__()
        if len(channels) != len(kernel_sizes):
            raise HarlitError(
                f"model.imu.channels {list(channels)} and model.imu.kernel_sizes {list(kernel_sizes)} "
                "must have the same length; give one kernel size per block."
            )
        if pooling not in ("max", "avg"):
            raise HarlitError(f"model.imu.pooling must be 'max' or 'avg', not {pooling!r}.")
        if norm not in ("none", "batch"):
            raise HarlitError(f"model.imu.norm must be 'none' or 'batch', not {norm!r}.")
        if init not in INITS:
            raise HarlitError(f"model.imu.init must be one of {list(INITS)}, not {init!r}.")
        blocks: list[nn.Module] = []
        prev = in_channels
        for width, kernel in zip(channels, kernel_sizes, strict=True):
            blocks.append(nn.Conv1d(prev, width, kernel, bias=norm == "none"))
            if norm == "batch":
                blocks.append(nn.BatchNorm1d(width))
            blocks += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
            prev = width
        self.blocks = nn.Sequential(*blocks)
        if init == "xavier_normal":  # the authors' public code: Xavier-normal convolutions, zero biases
            for conv in (m for m in self.blocks if isinstance(m, nn.Conv1d)):
                nn.init.xavier_normal_(conv.weight)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
        self.pooling = pooling
        self.in_channels = in_channels
        self.out_dim = prev
        self.receptive_field = 1 + sum(k - 1 for k in kernel_sizes)

    def forward(self, imu: torch.Tensor) -> torch.Tensor:
        check_imu_input(imu, self.in_channels, self.receptive_field, "use smaller model.imu.kernel_sizes")
        hidden = self.blocks(imu)
        if self.pooling == "max":
            return hidden.amax(dim=-1)
        return hidden.mean(dim=-1)
