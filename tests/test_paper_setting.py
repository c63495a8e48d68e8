"""The paper's stated IMU preprocessing: native rate, zero padding to the longest recording, no resampling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harlit.bench.generated import make_utd_tree
from harlit.config import compose_config
from harlit.data.transforms import imu_statistics, normalise_imu, pad_recordings
from harlit.train import train
from harlit.trained import load_model


def test_padding_is_left_out_of_the_statistics_and_becomes_zero() -> None:
    short, long = np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(10, dtype=np.float32).reshape(2, 5)
    stacked = torch.as_tensor(pad_recordings([short, long]))
    assert stacked.shape == (2, 2, 5) and bool(torch.isnan(stacked[0, :, 3:]).all())
    mean, std = imu_statistics(stacked)
    values = np.concatenate([short[0], long[0]])
    assert float(mean[0]) == pytest.approx(values.mean()) and float(std[0]) == pytest.approx(
        values.std(ddof=1)
    )
    normalised = normalise_imu(stacked, (mean, std))
    assert bool((normalised[0, :, 3:] == 0).all()) and not bool(torch.isnan(normalised).any())


def test_equal_lengths_give_exactly_the_old_statistics() -> None:
    imu = torch.randn(7, 6, 40)
    mean, std = imu_statistics(imu)
    assert torch.equal(mean, imu.mean(dim=(0, 2)).view(-1, 1)) and torch.equal(
        std, imu.std(dim=(0, 2)).view(-1, 1)
    )
    assert torch.equal(normalise_imu(imu, (mean, std)), (imu - mean) / std)


def test_the_paper_experiments_compose_with_the_papers_stated_settings() -> None:
    utd = compose_config(["+experiment=utd_stage1_imu_paper"], return_hydra_config=False)
    assert utd.data.imu_length is None and utd.model.imu.norm == "none"
    assert (utd.model.optimizer.lr, utd.model.optimizer.weight_decay, utd.data.batch_size) == (
        1e-4,
        1e-6,
        128,
    )
    assert not any(v for k, v in utd.data.augment.items() if k != "_target_" and v not in (1.0,))
    mmact = compose_config(["+experiment=mmact_stage1_imu_paper"], return_hydra_config=False)
    assert mmact.data.imu_length is None and (mmact.model.optimizer.lr, mmact.data.batch_size) == (5e-3, 256)
    head = compose_config(
        ["+experiment=utd_stage2", "model/head=concat_mlp_paper"], return_hydra_config=False
    )
    assert (head.model.head.batch_norm, head.model.head.dropout, head.model.head.name) == (
        False,
        0.0,
        "concat_mlp_paper",
    )


def test_a_padded_run_trains_and_predicts_like_it_evaluates(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, with_video=False)
    run = tmp_path / "run"
    cfg = compose_config(
        [
            "+experiment=utd_stage1_imu_paper",
            f"data.root={root}",
            "data.batch_size=4",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "logger=none",
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={run}",
        ]
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["test/loss"])
    model = load_model(run)
    record = model.preprocessing["imu"]
    assert record["imu_length"] is None and record["length"] >= 107  # the longest generated recording
    # One test recording through predict equals the same row through the datamodule.
    from harlit.build import build_datamodule

    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    item = datamodule.test_set[0]
    sample = datamodule.table.ids[item["index"]]
    from scipy.io import loadmat

    values = loadmat(root / "Inertial" / f"{sample}_inertial.mat")["d_iner"]
    prepared = model.prepare(imu=values)["imu"][0]
    torch.testing.assert_close(prepared, item["imu"], rtol=1e-5, atol=1e-5)
    # A longer recording keeps its central training-length samples (transforms.fit_to_length).
    longer = np.random.default_rng(0).standard_normal((record["length"] + 7, 6))
    torch.testing.assert_close(
        model.prepare(imu=longer)["imu"], model.prepare(imu=longer[3 : 3 + record["length"]])["imu"]
    )


# --- the options of the UTD-MHAD IMU ablation (experiments/utd_imu_ablation.sh) -----------------------------
def test_the_imu_encoder_can_start_from_the_authors_xavier_normal_init() -> None:
    from harlit.errors import HarlitError
    from harlit.models.imu_cnn import IMUEncoder

    torch.manual_seed(0)
    xavier = IMUEncoder(channels=(64, 64, 64), init="xavier_normal")
    torch.manual_seed(0)
    default = IMUEncoder(channels=(64, 64, 64))
    for ours, theirs in zip(
        (m for m in xavier.blocks if isinstance(m, torch.nn.Conv1d)),
        (m for m in default.blocks if isinstance(m, torch.nn.Conv1d)),
        strict=True,
    ):
        fan_in, fan_out = ours.in_channels * ours.kernel_size[0], ours.out_channels * ours.kernel_size[0]
        assert float(ours.weight.std()) == pytest.approx(math.sqrt(2.0 / (fan_in + fan_out)), rel=0.1)
        assert not ours.bias.any() and theirs.bias.any()
        assert not torch.equal(ours.weight, theirs.weight)
    with pytest.raises(HarlitError, match="model.imu.init must be one of"):
        IMUEncoder(init="orthogonal")


def test_the_plateau_scheduler_steps_on_validation_and_needs_it(make_cfg) -> None:
    from harlit.errors import HarlitError

    plateau = ["+experiment=synthetic_stage1_imu", "model/optimizer=adam", "model/scheduler=plateau"]
    with pytest.raises(HarlitError, match="no validation data; set data.val_subjects"):
        train(make_cfg(plateau, run="no_val"))
    cfg = make_cfg(
        [
            *plateau,
            "data.num_subjects=4",
            "data.val_subjects=[3]",
            "model.scheduler.patience=0",
            "trainer.max_epochs=3",
        ]
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["test/loss"]) and metrics["val/top1"] is not None
    checkpoint = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    (scheduler,) = checkpoint["lr_schedulers"]
    # A ReduceLROnPlateau that Lightning stepped on val/top1 after every validation before last.ckpt.
    assert scheduler["mode"] == "max" and scheduler["last_epoch"] >= cfg.trainer.max_epochs - 1
