"""The metrics against a hand-computed example."""

from __future__ import annotations

import pytest
import torch

from harlit.models.classifier import classification_metrics


def test_top1_top5_macro_f1_by_hand() -> None:
    # 6 classes, 4 samples. Row i: scores; the label is in `labels`.
    logits = torch.tensor(
        [
            [9.0, 1, 2, 3, 4, 5],  # label 0: top-1 hit
            [0.0, 1, 9, 3, 4, 5],  # label 1: predicted 2; 1 ranks 5th of 6 -> top-5 hit
            [9.0, 8, 1, 2, 3, 4],  # label 2: predicted 0; 2 ranks 6th -> top-5 miss
            [0.0, 1, 2, 9, 4, 5],  # label 3: top-1 hit
        ]
    )
    labels = torch.tensor([0, 1, 2, 3])
    metrics = classification_metrics(num_classes=6, prefix="test/")
    metrics.update(logits[:2], labels[:2])  # accumulated over batches, like an epoch
    metrics.update(logits[2:], labels[2:])
    result = {k: float(v) for k, v in metrics.compute().items()}
    assert result["test/top1"] == pytest.approx(2 / 4)
    assert result["test/top5"] == pytest.approx(3 / 4)
    # Per class F1: c0 tp1 fp1 -> 2/3; c1 0; c2 tp0 fp1 fn1 -> 0; c3 1; c4, c5 absent and never predicted -> 0.
    # Macro averages over the classes that occur in labels or predictions (as scikit-learn does),
    # so c4 and c5 do not count: (2/3 + 0 + 0 + 1) / 4.
    assert result["test/f1_macro"] == pytest.approx((2 / 3 + 1) / 4)


def test_top5_stays_top5_when_the_first_batch_is_all_top1_hits() -> None:
    metrics = classification_metrics(num_classes=6, prefix="test/")
    metrics.update(torch.eye(6)[:2] * 9, torch.tensor([0, 1]))  # first batch: every sample a top-1 hit
    # Second batch: label 0 ranks 2nd (top-5 hit, top-1 miss).
    metrics.update(torch.tensor([[8.0, 0, 9, 1, 2, 3]]), torch.tensor([0]))
    result = {k: float(v) for k, v in metrics.compute().items()}
    assert result["test/top1"] == pytest.approx(2 / 3)
    assert result["test/top5"] == pytest.approx(1.0)
