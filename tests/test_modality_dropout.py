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


def _real_batch(size: int, present: dict[str, list[bool]]) -> dict[str, torch.Tensor]:
    """A stage-2 batch at the synthetic defaults (8 frames of 32x32: S3D's last map is 1x1x1)."""
    batch = {
        "label": torch.arange(size) % 12,
        "imu": torch.randn(size, 6, 128),
        "video": torch.randint(0, 256, (size, 3, 8, 32, 32), dtype=torch.uint8),
    }
    batch.update({f"{m}_present": torch.tensor(rows) for m, rows in present.items()})
    return batch


@pytest.mark.parametrize(
    ("present", "head"),
    [
        ({"video": [False, False, False]}, "concat_mlp"),  # no sample of the batch has video
        ({"imu": [False, False, False]}, "concat_mlp"),
        ({"video": [True, False, False]}, "concat_mlp"),  # one sample: BatchNorm has one value per channel
        ({}, "concat_mlp"),
        ({}, "learned"),  # a complete batch: the learned missing value is not needed
        ({"video": [False, False, False]}, "attention"),
        ({"imu": [False, True, False]}, "late"),
    ],
)
def test_every_trainable_parameter_is_in_every_training_step(make_cfg, present, head) -> None:
    """Defect 7: DDP failed on unused parameters when a rank's batch lacked a modality; one clip of
    1x1x1 crashed BatchNorm. Every step now reaches every trainable parameter, so DDP needs no search."""
    overrides = ["model.head.missing_value=learned"] if head == "learned" else [f"model/head={head}"]
    model = build_model(make_cfg(["+experiment=synthetic_stage2", *overrides]), 12).train()
    batch = _real_batch(3, present)
    loss = model.training_step(batch, 0)
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"parameters outside the step's graph: {unused[:5]}"
    for m, rows in present.items():
        if not any(rows):  # an absent encoder is in the graph, but learns nothing from the batch
            assert all(not p.grad.any() for p in model.encoders[m].parameters() if p.requires_grad)


def test_ddp_is_never_told_to_search_for_unused_parameters(make_cfg) -> None:
    from harlit.build import build_trainer

    for overrides in (
        [],
        ["model.modality_dropout=0.5"],
        ["data.hidden_classes=[0]", "data.hidden_from=imu"],
        ["model.head.missing_value=learned"],
    ):
        trainer = build_trainer(make_cfg(["trainer=ddp_cpu", *overrides]), logger=False)
        assert trainer.strategy._ddp_kwargs["find_unused_parameters"] is False


@pytest.mark.slow
def test_ddp_stage2_with_heavy_modality_dropout_on_tiny_batches(tmp_path) -> None:
    """The issue's command: 2 CPU ranks, p=0.99, batches of 2, 8x32x32 clips."""
    from tests.conftest import QUIET, TINY_SOURCE, run_harlit, stage1_overrides

    quick = ["trainer.max_epochs=1", "data.batch_size=4", *QUIET]
    result = run_harlit(
        [
            "+experiment=synthetic_stage2",
            "trainer=ddp_cpu",
            "model.modality_dropout=0.99",
            "data.batch_size=2",
            "trainer.max_epochs=1",
            *TINY_SOURCE,
            *QUIET,
            stage1_overrides("imu", quick),
            stage1_overrides("video", quick),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parameters that were not used" not in result.stderr
