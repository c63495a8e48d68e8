"""Stage-1 head: dropout and one linear layer on a single encoder's feature vector."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from harlit.models.heads.base import Features, Head, Presence


class LinearHead(Head):
    name = "linear"  # its config in conf/model/head/, and its label in metrics.json and reports

    def __init__(self, feature_dims: Mapping[str, int], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(feature_dims, num_classes)
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(sum(self.feature_dims.values()), num_classes))

    def forward(self, features: Features, present: Presence) -> torch.Tensor:
        return self.net(self.concatenated(features, present))
