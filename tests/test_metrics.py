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


def test_label_smoothing_applies_to_the_training_loss_only() -> None:
    import torch.nn.functional as F

    from harlit.errors import HarlitError
    from harlit.models.classifier import HARClassifier
    from harlit.models.imu_cnn import IMUEncoder

    torch.manual_seed(0)
    model = HARClassifier(
        "imu", 5, torch.optim.AdamW, imu=IMUEncoder(6, channels=(4, 4, 4)), label_smoothing=0.2
    ).eval()
    batch = {"imu": torch.randn(8, 6, 64), "label": torch.arange(8) % 5}
    with torch.no_grad():
        logits = model(batch)
    with torch.no_grad(), pytest.warns(UserWarning, match="self.log"):
        train_loss, _ = model._step(batch, model.train_metrics, "train")
        val_loss, _ = model._step(batch, model.val_metrics, "val")
    assert float(train_loss) == pytest.approx(
        float(F.cross_entropy(logits, batch["label"], label_smoothing=0.2))
    )
    assert float(val_loss) == pytest.approx(float(F.cross_entropy(logits, batch["label"])))
    assert float(train_loss) != pytest.approx(float(val_loss))
    with pytest.raises(HarlitError, match="model.label_smoothing must be in"):
        HARClassifier("imu", 5, torch.optim.AdamW, imu=IMUEncoder(6), label_smoothing=1.0)


def test_logged_epoch_metrics_match_hand_counts_and_reset_between_epochs() -> None:
    """Through a real Trainer: several batches accumulate, and the next evaluation starts from zero."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from harlit.models.classifier import HARClassifier
    from harlit.models.imu_cnn import IMUEncoder

    torch.manual_seed(0)
    model = HARClassifier("imu", 7, torch.optim.AdamW, imu=IMUEncoder(6, channels=(4, 4, 4)))
    samples = [{"imu": torch.randn(6, 64), "label": i % 7} for i in range(22)]
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    for subset in (samples, samples[:7]):  # the second pass must not include the first one's counts
        logged = trainer.validate(model, DataLoader(subset, batch_size=4), verbose=False)[0]
        model.eval()
        with torch.no_grad():
            logits = model({"imu": torch.stack([s["imu"] for s in subset])})
        labels = torch.tensor([s["label"] for s in subset])
        top1 = float((logits.argmax(1) == labels).float().mean())
        top5 = float((logits.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean())
        assert logged["val/top1"] == pytest.approx(top1)
        assert logged["val/top5"] == pytest.approx(top5)
        assert "val/f1_macro" in logged


def test_testing_runs_one_forward_per_batch(make_cfg) -> None:
    """Per-class F1, the confusion matrix and Top-1/5 come from the same single forward pass."""
    import pytorch_lightning as pl

    from harlit.build import build_datamodule, build_model

    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "data.eval_batch_size=5"])
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule.num_classes)
    calls = []
    model.register_forward_hook(lambda module, args, output: calls.append(len(output)))
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    logged = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    batches = len(datamodule.test_dataloader())
    assert len(calls) == batches and sum(calls) == len(datamodule.test_set)
    confusion = model.test_details["confusion_matrix"]
    assert float(confusion.diag().sum() / confusion.sum()) == pytest.approx(logged["test/top1"])
