"""Stage-1 head: one linear layer on a single encoder's feature vector."""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    """Stage-1 classifier head: dropout and one linear layer on the encoder's feature vector."""

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, num_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
