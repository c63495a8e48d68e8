"""model.modality_dropout: in stage-2 training a sample loses one of its modalities, never both."""

from __future__ import annotations

import pytest
import torch

from harlit.build import build_datamodule, build_model
from harlit.errors import HarlitError


def _batch(size: int, **extra: torch.Tensor) -> dict[str, torch.Tensor]:
    """A batch that carries both modalities (their content does not matter to the masks)."""
    return {
        "label": torch.zeros(size, dtype=torch.long),
        "imu": torch.zeros(size, 1),
        "video": torch.zeros(size, 1),
        **extra,
    }


def _model(make_cfg, p: float):
    cfg = make_cfg(["+experiment=synthetic_stage2", f"model.modality_dropout={p}"])
    return build_model(cfg, 12)


def test_dropout_masks_one_modality_per_chosen_sample_and_never_both(make_cfg) -> None:
    model = _model(make_cfg, 0.5).train()
    torch.manual_seed(0)
    masks = model._presence(_batch(4000), 4000)
    imu, video = masks["imu"], masks["video"]
    assert bool((imu | video).all())  # never both
    dropped = (~imu | ~video).float().mean().item()
    assert dropped == pytest.approx(0.5, abs=0.03)
    assert (~imu).float().mean().item() == pytest.approx(0.25, abs=0.03)


def test_dropout_respects_samples_that_already_lack_a_modality(make_cfg) -> None:
    model = _model(make_cfg, 0.9).train()
    hidden = torch.zeros(1000, dtype=torch.bool)  # every sample lacks IMU (hidden-class protocol)
    masks = model._presence(_batch(1000, imu_present=hidden), 1000)
    assert not masks["imu"].any() and masks["video"].all()


def test_no_dropout_in_evaluation_or_by_default(make_cfg) -> None:
    batch = _batch(64)
    assert _model(make_cfg, 0.5).eval()._presence(batch, 64) == {"imu": None, "video": None}
    assert _model(make_cfg, 0.0).train()._presence(batch, 64) == {"imu": None, "video": None}


def test_a_dropped_modality_goes_through_the_heads_missing_path(make_cfg) -> None:
    cfg = make_cfg(
        ["+experiment=synthetic_stage2", "model.modality_dropout=0.5", "model.head.missing_value=learned"]
    )
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule.num_classes).train()
    batch = next(iter(datamodule.train_dataloader()))
    torch.manual_seed(3)
    masks = model._presence(batch, len(batch["label"]))
    dropped = {m: ~masks[m] for m in ("imu", "video")}
    assert dropped["imu"].any() and dropped["video"].any()
    # Garbage in the dropped rows changes nothing: they never reach their encoder (nor its BatchNorm).
    garbage = {**batch, "imu": batch["imu"].clone(), "video": batch["video"].clone()}
    garbage["imu"][dropped["imu"]] = 1e6
    garbage["video"][dropped["video"]] = 255
    torch.manual_seed(3)
    clean = model(batch)
    torch.manual_seed(3)
    assert torch.equal(model(garbage), clean)
    # The head's learned missing-modality value stands in for them, so it gets a gradient.
    clean.sum().backward()
    assert all(
        model.head.missing[m].grad is not None and model.head.missing[m].grad.abs().sum() > 0 for m in dropped
    )


def test_a_modality_missing_from_the_batch_is_absent(make_cfg) -> None:
    masks = (
        _model(make_cfg, 0.0)
        .eval()
        ._presence({"label": torch.zeros(8, dtype=torch.long), "video": torch.zeros(8, 1)}, 8)
    )
    assert not masks["imu"].any() and masks["video"] is None


def test_bad_dropout_settings_are_one_sentence(make_cfg) -> None:
    with pytest.raises(HarlitError, match=r"model.modality_dropout must be in \[0, 1\)"):
        _model(make_cfg, 1.0)
    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "+model.modality_dropout=0.3"])
    with pytest.raises(HarlitError, match="applies to fusion"):
        build_model(cfg, 12)
