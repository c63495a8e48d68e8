"""The Transformer encoder over a sequence of tokens that the attention fusion head and the conv_transformer
IMU encoder share: batch first, pre-norm by default with one final LayerNorm."""

from __future__ import annotations

from torch import nn


def token_transformer(
    d_model: int, nhead: int, num_layers: int, dim_feedforward: int, dropout: float, norm_first: bool = True
) -> nn.TransformerEncoder:
    """`num_layers` TransformerEncoderLayers on (batch, tokens, d_model)."""
    layer = nn.TransformerEncoderLayer(
        d_model,
        nhead,
        dim_feedforward=dim_feedforward,
        dropout=dropout,
        batch_first=True,
        norm_first=norm_first,
    )
    # Pre-norm layers leave their output unnormalised: one final LayerNorm, as in ViT. No padding masks,
    # so nested tensors would gain nothing.
    return nn.TransformerEncoder(
        layer,
        num_layers,
        norm=nn.LayerNorm(d_model) if norm_first else None,
        enable_nested_tensor=False,
    )
