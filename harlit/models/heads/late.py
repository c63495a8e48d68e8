"""Late fusion: one linear classifier per modality, their logits averaged with learned modality weights.

Each modality has its own dropout + linear classifier, and one learnable scalar; the scalars go through a
softmax over the modalities a sample has. A missing modality leaves the average: its weight is exactly
0 and the others are renormalised over the present ones (it is not replaced by zeros). A sample with no
modality at all (impossible in training) gets all-zero, i.e. uniform, logits.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from harlit.models.heads.base import Features, Head, Presence
from harlit.models.heads.masking import masked_softmax, presence_matrix


class LateFusion(Head):
    """Per-modality classifiers, fused by softmax-normalised learned weights over the present modalities."""

    name = "late"  # its config in conf/model/head/, and its label in metrics.json and reports

    def __init__(self, feature_dims: Mapping[str, int], num_classes: int, dropout: float = 0.2) -> None:
        super().__init__(feature_dims, num_classes)
        self.classifiers = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))
                for m, dim in self.feature_dims.items()
            }
        )
        self.modality_logits = nn.Parameter(torch.zeros(len(self.feature_dims)))  # equal weights at first

    def modality_weights(self, mask: torch.Tensor) -> torch.Tensor:
        """(batch, modalities) weights: softmax of the learned scalars over each sample's present modalities."""
        return masked_softmax(self.modality_logits.expand(mask.shape), mask)

    def forward(self, features: Features, present: Presence) -> torch.Tensor:
        # Absent rows become zeros before any layer, so whatever they held (even NaN) never reaches the
        # output; their logits are then weighted by exactly 0.
        filled = self.filled(features, present)
        weights = self.modality_weights(presence_matrix(features, present, self.modalities))
        logits = torch.stack([self.classifiers[m](filled[m]) for m in self.modalities], dim=1)
        return (weights.to(logits.dtype).unsqueeze(2) * logits).sum(dim=1)
