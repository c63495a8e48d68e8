"""The hidden-class zero-shot protocol (README, "Zero-shot protocol"): what each stage sees, and its errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from harlit.config import instantiate
from harlit.data.base import HARDataModule
from harlit.data.synthetic import CLASS_NAMES
from harlit.errors import HarlitError
from harlit.models.classifier import HARClassifier
from harlit.train import train

HIDDEN = ["wave_window", "circle_table", "shake_door"]
SMALL = ["data.num_subjects=4", "data.repetitions=2"]


def datamodule(
    make_cfg: Callable[..., DictConfig], overrides: list[str], modalities: tuple[str, ...]
) -> HARDataModule:
    cfg = make_cfg([*SMALL, *overrides])
    dm = instantiate(cfg.data, modalities=list(modalities))
    dm.setup("fit")
    return dm


def hidden_ids(dm: HARDataModule) -> list[int]:
    return [CLASS_NAMES.index(name) for name in HIDDEN]


def labels_of(dataset) -> np.ndarray:
    return dataset.table.labels[dataset.indices]


def full_batch(dataset) -> dict[str, torch.Tensor]:
    return next(iter(torch.utils.data.DataLoader(dataset, batch_size=len(dataset))))


@pytest.mark.parametrize("modality, hidden_from", [("imu", "imu"), ("imu", "both"), ("video", "video")])
def test_stage1_training_data_has_no_hidden_class(make_cfg, modality: str, hidden_from: str) -> None:
    hidden = f"data.hidden_classes=[{','.join(HIDDEN)}]"
    dm = datamodule(
        make_cfg, [hidden, f"data.hidden_from={hidden_from}", "data.val_subjects=[1]"], (modality,)
    )
    complete = datamodule(make_cfg, ["data.val_subjects=[1]"], (modality,))
    for split in ("train_set", "val_set"):
        labels = labels_of(getattr(dm, split))
        assert not np.isin(labels, hidden_ids(dm)).any(), split
        # Exactly the hidden samples went, nothing else.
        kept = labels_of(getattr(complete, split))
        assert len(labels) == int((~np.isin(kept, hidden_ids(dm))).sum())
    seen = set()
    for batch in dm.train_dataloader():
        seen |= set(batch["label"].tolist())
        assert f"{modality}_present" not in batch  # nothing to mask: the samples are gone
    assert seen.isdisjoint(hidden_ids(dm)) and seen


@pytest.mark.parametrize("hidden_from", ["imu", "video", "both"])
def test_test_set_is_complete(make_cfg, hidden_from: str) -> None:
    hidden = f"data.hidden_classes=[{','.join(HIDDEN)}]"
    modalities = {"imu": ("imu",), "video": ("video",), "both": ("imu", "video")}[hidden_from]
    for mods in {modalities, ("imu", "video")}:
        dm = datamodule(make_cfg, [hidden, f"data.hidden_from={hidden_from}"], mods)
        complete = datamodule(make_cfg, [], mods)
        assert np.array_equal(dm.test_set.indices, complete.test_set.indices)
        assert set(labels_of(dm.test_set).tolist()) == set(range(len(CLASS_NAMES)))
        batch = full_batch(dm.test_set)
        assert not any(key.endswith("_present") for key in batch)  # every modality of every sample
        assert all(m in batch for m in mods)


def test_hidden_from_both_removes_the_classes_from_stage2_training(make_cfg) -> None:
    dm = datamodule(
        make_cfg, [f"data.hidden_classes=[{','.join(HIDDEN)}]", "data.hidden_from=both"], ("imu", "video")
    )
    assert not np.isin(labels_of(dm.train_set), hidden_ids(dm)).any()
    assert "imu_present" not in full_batch(dm.train_set)


@pytest.mark.parametrize("missing_value", ["zeros", "learned"])
@pytest.mark.parametrize("hidden_from, other", [("imu", "video"), ("video", "imu")])
def test_stage2_features_carry_the_missing_value_exactly_for_hidden_samples(
    make_cfg, missing_value: str, hidden_from: str, other: str
) -> None:
    cfg = make_cfg(
        [
            *SMALL,
            f"data.hidden_classes=[{','.join(HIDDEN)}]",
            f"data.hidden_from={hidden_from}",
            f"model.head.missing_value={missing_value}",
        ]
    )
    dm = instantiate(cfg.data, modalities=["imu", "video"])
    dm.setup("fit")
    model: HARClassifier = instantiate(cfg.model, num_classes=dm.num_classes, imu_ckpt=None, video_ckpt=None)
    if missing_value == "learned":
        with torch.no_grad():  # a recognisable learned vector, not the zeros it starts from
            model.head.missing[hidden_from].copy_(
                torch.linspace(-1, 1, model.head.missing[hidden_from].numel())
            )
    model.eval()  # deterministic features: no dropout, BatchNorm running statistics
    batch = full_batch(dm.train_set)
    is_hidden = torch.as_tensor(np.isin(batch["label"].numpy(), hidden_ids(dm)))
    assert is_hidden.any() and (~is_hidden).any()
    assert torch.equal(batch[f"{hidden_from}_present"], ~is_hidden)
    assert f"{other}_present" not in batch  # the other modality of a hidden sample is kept

    received: list[torch.Tensor] = []
    model.head.net.register_forward_hook(lambda module, args, output: received.append(args[0].detach()))
    with torch.no_grad():
        model(batch)
        dims = {m: model.encoders[m].out_dim for m in model.encoders}
        encoded = {m: model.encoders[m](batch[m]) for m in model.encoders}
    features = received[0]
    offsets = {"imu": 0, "video": dims["imu"]}  # concatenation order of the encoders
    part = {m: features[:, offsets[m] : offsets[m] + dims[m]] for m in dims}
    expected_missing = (
        torch.zeros(dims[hidden_from])
        if missing_value == "zeros"
        else model.head.missing[hidden_from].detach()
    )
    assert torch.equal(part[hidden_from][is_hidden], expected_missing.expand(int(is_hidden.sum()), -1))
    torch.testing.assert_close(part[hidden_from][~is_hidden], encoded[hidden_from][~is_hidden])
    assert not torch.equal(part[hidden_from][~is_hidden][0], expected_missing)
    torch.testing.assert_close(part[other], encoded[other])  # both hidden and seen samples


def test_hidden_samples_give_the_hidden_modality_encoder_no_gradient(make_cfg) -> None:
    cfg = make_cfg([*SMALL, f"data.hidden_classes=[{','.join(HIDDEN)}]", "data.hidden_from=imu"])
    dm = instantiate(cfg.data, modalities=["imu", "video"])
    dm.setup("fit")
    model: HARClassifier = instantiate(cfg.model, num_classes=dm.num_classes, imu_ckpt=None, video_ckpt=None)
    model.train()
    batch = full_batch(dm.train_set)
    rows = torch.as_tensor(np.isin(batch["label"].numpy(), hidden_ids(dm)))
    only_hidden = {k: v[rows] for k, v in batch.items()}
    F.cross_entropy(model(only_hidden), only_hidden["label"]).backward()
    assert all(p.grad is None or not p.grad.any() for p in model.encoders["imu"].parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.encoders["video"].parameters())


def test_num_hidden_is_deterministic_in_seed(make_cfg) -> None:
    def chosen(seed: int) -> list[str]:
        cfg = make_cfg(["data.num_hidden=5", f"seed={seed}"])
        return instantiate(cfg.data, modalities=["imu"]).hidden_class_names

    assert chosen(0) == chosen(0) and len(chosen(0)) == 5 and set(chosen(0)) <= set(CLASS_NAMES)
    assert len({tuple(chosen(seed)) for seed in range(5)}) > 1  # the seed picks them


def test_zero_shot_run_end_to_end_records_the_hidden_classes(make_cfg, tmp_path: Path) -> None:
    """IMU*+RGB: stage 1 IMU trains without H, stage 1 video with all classes, stage 2 reports H and seen accuracy."""
    metrics = train(
        make_cfg(
            ["+experiment=synthetic_stage2", "data.num_hidden=2", "data.hidden_from=imu", "seed=3"], run="zs"
        )
    )
    cfg = make_cfg(["data.num_hidden=2", "seed=3"])
    expected = instantiate(cfg.data, modalities=["imu"]).hidden_class_names
    written = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert written["hidden_classes"] == expected == metrics["hidden_classes"]
    assert written["hidden_from"] == "imu"
    assert 0.0 <= written["test/top1_hidden"] <= 1.0 and 0.0 <= written["test/top1_seen"] <= 1.0
    stage1_imu = json.loads((tmp_path / "zs" / "stage1_imu" / "metrics.json").read_text())
    stage1_video = json.loads((tmp_path / "zs" / "stage1_video" / "metrics.json").read_text())
    assert stage1_imu["hidden_classes"] == expected  # the IMU encoder never saw H
    assert stage1_imu["dropped"]["train_hidden"] > 0
    assert stage1_video["hidden_classes"] == []  # the other encoder saw every class
    assert stage1_imu["num_test"] == stage1_video["num_test"] == written["num_test"]


@pytest.mark.parametrize(
    "overrides, modalities, message",
    [
        (["data.hidden_classes=[jump]"], ("imu",), r"hidden class 'jump' is not a synthetic class"),
        (["data.num_hidden=12"], ("imu",), r"data.num_hidden=12 must be between 1 and 11"),
        (["data.num_hidden=20"], ("imu", "video"), r"data.num_hidden=20 must be between 1 and 11"),
        (
            ["data.hidden_classes=[wave_window]", "data.hidden_from=video"],
            ("imu",),
            r"hides classes from a modality this imu-only run does not use",
        ),
        (
            ["data.num_hidden=1", "data.hidden_from=imu"],
            ("video",),
            r"hides classes from a modality this video-only run does not use",
        ),
    ],
)
def test_bad_hidden_settings_are_one_sentence_errors(make_cfg, overrides, modalities, message) -> None:
    cfg = make_cfg(overrides)
    with pytest.raises(HarlitError, match=message) as err:
        instantiate(cfg.data, modalities=list(modalities)).setup("fit")
    text = str(err.value)
    assert "\n" not in text and text.endswith(".")


def test_hiding_from_an_unused_modality_fails_before_training(make_cfg) -> None:
    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "data.num_hidden=1", "data.hidden_from=video"])
    with pytest.raises(HarlitError, match="does not use"):
        train(cfg)


def test_stage2_normalises_imu_like_its_stage1_imu_star_encoder(make_cfg) -> None:
    """Stage 2 keeps H samples but must not fold their (absent) IMU into the normalisation statistics."""
    hidden = [f"data.hidden_classes=[{','.join(HIDDEN)}]", "data.hidden_from=imu"]
    stage1 = datamodule(make_cfg, hidden, ("imu",))
    stage2 = datamodule(make_cfg, hidden, ("imu", "video"))
    for a, b in zip(stage1.imu_stats, stage2.imu_stats, strict=True):
        assert torch.equal(a, b)
