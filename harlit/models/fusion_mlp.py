"""Fusion head: concatenated features -> Linear -> BN -> ReLU -> Dropout -> Linear."""

from __future__ import annotations

import torch
from torch import nn


class FusionMLP(nn.Module):
    """Two-layer MLP over the concatenation of the modality features."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden_dim: int = 512,
        dropout: float = 0.5,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim) if batch_norm else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_classes),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
