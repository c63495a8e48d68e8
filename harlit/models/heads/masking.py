"""Presence masks as one (batch, modalities) tensor, and a softmax over the present modalities only."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harlit.models.heads.base import Features, Presence


def presence_matrix(features: Features, present: Presence, modalities: Sequence[str]) -> torch.Tensor:
    """(batch, len(modalities)) bool: True where the sample has the modality (a None mask: all do)."""
    columns = []
    for m in modalities:
        feats = features[m]
        mask = present.get(m)
        columns.append(
            torch.ones(feats.shape[0], dtype=torch.bool, device=feats.device)
            if mask is None
            else mask.to(device=feats.device, dtype=torch.bool)
        )
    return torch.stack(columns, dim=1)


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax of (batch, modalities) `logits` over each row's True entries; absent entries get exactly 0.

    A row with no True entry gets all-zero weights (not NaN). The absent entries' logits neither reach
    the weights nor receive a gradient.
    """
    anything = mask.any(dim=1, keepdim=True)
    logits = logits.float().masked_fill(~mask, float("-inf")).masked_fill(~anything, 0.0)
    return torch.softmax(logits, dim=1) * anything
