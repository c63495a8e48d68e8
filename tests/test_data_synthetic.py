"""The embedded synthetic dataset and the shared split / train-ratio logic."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harlit.config import instantiate
from harlit.data.augment import Augmentation
from harlit.data.protocol import SplitProtocol, stratified_subset
from harlit.errors import HarlitError


def build(make_cfg, overrides=(), modalities=("imu", "video")):
    cfg = make_cfg(["data.num_subjects=4", "data.repetitions=4", *overrides], tiny=False)
    dm = instantiate(cfg.data, modalities=list(modalities))
    dm.setup("fit")
    return dm


def per_class(dm) -> Counter:
    return Counter(int(dm.table.labels[i]) for i in dm.train_set.indices)


@pytest.mark.parametrize("ratio, expected", [(1.0, 8), (0.75, 6), (0.5, 4), (0.25, 2)])
def test_train_ratio_exact_per_class_counts(make_cfg, ratio: float, expected: int) -> None:
    dm = build(make_cfg, [f"data.train_ratio={ratio}"], modalities=("imu",))
    counts = per_class(dm)
    assert sorted(counts) == list(range(12)) and set(counts.values()) == {expected}
    assert len(dm.test_set) == 2 * 12 * 4  # the test split is never subsampled


def test_train_ratio_subset_is_seeded(make_cfg) -> None:
    first = build(make_cfg, ["data.train_ratio=0.5", "seed=3"], ("imu",)).train_set.indices
    again = build(make_cfg, ["data.train_ratio=0.5", "seed=3"], ("imu",)).train_set.indices
    other = build(make_cfg, ["data.train_ratio=0.5", "seed=4"], ("imu",)).train_set.indices
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_stratified_subset_rounds_and_keeps_every_class() -> None:
    labels = np.array([0] * 10 + [1] * 3 + [2] * 1)
    subset = stratified_subset(np.arange(14), labels, 0.5, seed=0)
    assert Counter(labels[subset].tolist()) == {0: 5, 1: 2, 2: 1}


def test_split_protocol_check_names_at_most_six_missing_classes() -> None:
    labels = np.arange(10)
    protocol = SplitProtocol(1.0, [], [9], "both", 0, ("imu",))
    splits = protocol.apply(labels, np.zeros(10, dtype=np.int64), np.array([0]), np.arange(10))
    names = [f"c{i}" for i in range(10)]
    with pytest.raises(HarlitError) as err:
        protocol.check(splits, labels, names, "toy", ["data.test_subjects=[2]"])
    # c9 is hidden, so absent from training by design.
    assert str(err.value) == (
        "the toy training split has no sample of c1, c2, c3, c4, c5, c6 and 2 more, which the test split "
        "has; change data.test_subjects=[2]."
    )


def test_empty_splits_are_clear_errors(make_cfg) -> None:
    with pytest.raises(HarlitError) as err:
        build(make_cfg, ["data.val_subjects=[1,3]"], ("imu",))
    assert str(err.value) == (
        "the synthetic training split is empty; change data.num_subjects=4 (subjects [1, 3] train, the others "
        "test) or data.val_subjects=[1, 3]."
    )
    with pytest.raises(HarlitError, match="^the synthetic test split is empty; change data.num_subjects=1"):
        build(make_cfg, ["data.num_subjects=1"], ("imu",))


@pytest.mark.parametrize("ratio", [0, 1.5, -0.25])
def test_bad_train_ratio_is_a_clear_error(make_cfg, ratio: float) -> None:
    cfg = make_cfg([f"data.train_ratio={ratio}"])
    with pytest.raises(HarlitError, match=r"data.train_ratio must be in \(0, 1\]"):
        instantiate(cfg.data, modalities=["imu"])


def test_split_is_by_subject_and_data_is_deterministic(make_cfg) -> None:
    dm = build(make_cfg)
    train_subjects = set(dm.table.subjects[dm.train_set.indices].tolist())
    test_subjects = set(dm.table.subjects[dm.test_set.indices].tolist())
    assert train_subjects == {1, 3} and test_subjects == {2, 4}
    again = build(make_cfg)
    assert torch.equal(dm.table.imu, again.table.imu) and torch.equal(dm.table.video, again.table.video)
    other_seed = build(make_cfg, ["seed=5"])  # the training seed does not change the data
    assert torch.equal(dm.table.video, other_seed.table.video)


def test_batches_have_the_documented_shapes(make_cfg) -> None:
    dm = build(
        make_cfg, ["data.batch_size=5", "data.imu_length=80", "data.num_frames=8", "data.frame_size=32"]
    )
    batch = next(iter(dm.train_dataloader()))
    assert batch["imu"].shape == (5, 6, 80) and batch["imu"].dtype == torch.float32
    assert batch["video"].shape == (5, 3, 8, 32, 32) and batch["video"].dtype == torch.uint8
    assert batch["label"].shape == (5,)
    # IMU is normalised with training-split statistics.
    train_imu = torch.stack([dm.train_set[i]["imu"] for i in range(len(dm.train_set))])
    assert train_imu.mean(dim=(0, 2)).abs().max() < 1e-4
    assert (train_imu.std(dim=(0, 2)) - 1).abs().max() < 1e-2


def test_single_modality_loads_only_that_modality(make_cfg) -> None:
    dm = build(make_cfg, modalities=("imu",))
    assert dm.table.video is None and "video" not in dm.train_set[0]


def test_video_augmentation_flips_or_keeps_each_clip() -> None:
    from harlit.data.transforms import augment_video

    torch.manual_seed(0)
    clips = torch.randint(0, 256, (16, 3, 4, 8, 8), dtype=torch.uint8)
    out = augment_video(clips, flip=True, crop_scale=1.0)
    flipped = [torch.equal(o, c.flip(-1)) for o, c in zip(out, clips, strict=True)]
    kept = [torch.equal(o, c) for o, c in zip(out, clips, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)
    cropped = augment_video(clips, flip=False, crop_scale=0.5)
    assert cropped.shape == clips.shape and cropped.dtype == torch.uint8 and not torch.equal(cropped, clips)


def test_imu_time_crop_shifts_and_stretches_within_the_sequence() -> None:
    from harlit.data.transforms import augment_imu

    ramp = torch.linspace(0.0, 1.0, 100).expand(64, 2, 100).clone()
    assert torch.equal(augment_imu(ramp, 0.0, 0.0, crop_scale=1.0), ramp)
    out = augment_imu(ramp, 0.0, 0.0, crop_scale=0.6, generator=torch.Generator().manual_seed(0))
    span = out[:, 0, -1] - out[:, 0, 0]
    # Each sample is a window of 60-100 % of the ramp, resampled back: still monotone, inside [0, 1].
    assert out.shape == ramp.shape and torch.equal(out[:, 0], out[:, 1])
    assert (out.diff(dim=-1) >= -1e-6).all() and out.min() >= 0 and out.max() <= 1
    assert span.min() >= 0.6 - 1e-5 and span.max() <= 1 + 1e-5 and span.std() > 0.05


def test_imu_rotation_turns_each_device_rigidly_in_physical_units() -> None:
    from harlit.data.transforms import rotate_imu

    torch.manual_seed(0)
    raw = torch.randn(16, 9, 20) * 3 + 1
    mean, std = raw.mean(dim=(0, 2)).view(-1, 1), raw.std(dim=(0, 2)).view(-1, 1)
    normalised = (raw - mean) / std
    assert torch.allclose(
        rotate_imu(normalised, [[0, 1, 2, 3, 4, 5]], 0.0, (mean, std)), normalised, atol=1e-5
    )
    out = rotate_imu(normalised, [[0, 1, 2, 3, 4, 5]], 30.0, (mean, std)) * std + mean
    for triplet in (slice(0, 3), slice(3, 6)):  # a rotation keeps each xyz vector's length
        assert torch.allclose(out[:, triplet].norm(dim=1), raw[:, triplet].norm(dim=1), atol=1e-4)
    assert not torch.allclose(out[:, 0:3], raw[:, 0:3], atol=1e-3)
    assert torch.allclose(out[:, 6:], raw[:, 6:], atol=1e-4)  # channels of no device stay put
    # Acc and gyro of one device turn together: the angle between them is unchanged.
    cosine = torch.nn.functional.cosine_similarity
    assert torch.allclose(
        cosine(out[:, 0:3], out[:, 3:6], dim=1), cosine(raw[:, 0:3], raw[:, 3:6], dim=1), atol=1e-4
    )


def test_imu_rotation_needs_the_devices(make_cfg) -> None:
    with pytest.raises(HarlitError, match="needs data.imu_devices"):
        build(make_cfg, overrides=["data.augment.imu_rotation=15", "data.imu_devices=[]"])
    with pytest.raises(HarlitError, match=r"entry \[0, 1\] must list"):
        build(make_cfg, overrides=["data.augment.imu_rotation=15", "data.imu_devices=[[0,1]]"])
    dm = build(make_cfg, overrides=["data.augment.imu_rotation=15"], modalities=("imu",))
    assert dm.imu_devices == [[0, 1, 2, 3, 4, 5]]
    imu = torch.stack([dm.train_set[i]["imu"] for i in range(8)])
    dm.trainer = SimpleNamespace(training=True)  # the hook augments training batches only
    rotated = dm.on_after_batch_transfer({"imu": imu.clone()}, 0)["imu"]
    mean, std = dm.imu_stats
    acc, acc_rotated = (imu * std + mean)[:, :3], (rotated * std + mean)[:, :3]
    assert not torch.allclose(rotated, imu, atol=1e-3)
    assert torch.allclose(acc_rotated.norm(dim=1), acc.norm(dim=1), atol=1e-3)


def test_imu_augmentations_run_inside_training(make_cfg) -> None:
    from harlit.train import train

    augment = ["data.augment.imu_rotation=20", "data.augment.imu_crop_scale=0.8", "model.label_smoothing=0.1"]
    metrics = train(make_cfg(["+experiment=synthetic_stage1_imu", *augment]))
    assert 0.0 <= metrics["test/top1"] <= 1.0 and metrics["num_train"] > 0


def test_augment_config_builds_an_augmentation_with_the_experiments_keys(make_cfg) -> None:
    cfg = make_cfg(["+experiment=utd_stage1_imu", "data.augment.imu_crop_scale=0.9"], tiny=False)
    assert cfg.data.augment._target_ == "harlit.data.augment.Augmentation"
    augment = instantiate(cfg.data.augment)
    assert augment == Augmentation(imu_jitter=0.05, imu_scale=0.1, imu_crop_scale=0.9, imu_rotation=15.0)
    dm = build(make_cfg, ["data.augment.video_flip=true"], ("imu",))
    assert dm.augment == Augmentation(video_flip=True)


def test_datamodules_built_in_python_take_a_dict_or_none(make_cfg) -> None:
    from harlit.data.synthetic import SyntheticDataModule

    assert SyntheticDataModule(modalities=["imu"]).augment == Augmentation()
    dm = SyntheticDataModule(
        modalities=["imu"], imu_devices=[[0, 1, 2]], augment={"imu_jitter": 0.05, "imu_rotation": 15}
    )
    assert dm.augment == Augmentation(imu_jitter=0.05, imu_rotation=15.0)
    with pytest.raises(HarlitError, match="needs data.imu_devices"):
        SyntheticDataModule(modalities=["imu"], augment={"imu_rotation": 15})
    with pytest.raises(HarlitError, match=r"unknown key\(s\) \['imu_jiter'\]"):
        SyntheticDataModule(modalities=["imu"], augment={"imu_jiter": 0.05})


def test_augmentation_leaves_evaluation_batches_alone(make_cfg) -> None:
    dm = build(make_cfg, ["data.augment.imu_jitter=0.5"], ("imu",))
    batch = {"imu": torch.zeros(4, 6, 8), "label": torch.zeros(4)}
    assert dm.on_after_batch_transfer(dict(batch), 0)["imu"] is batch["imu"]  # no trainer
    dm.trainer = SimpleNamespace(training=False)
    assert dm.on_after_batch_transfer(dict(batch), 0)["imu"] is batch["imu"]
    dm.trainer = SimpleNamespace(training=True)
    assert dm.on_after_batch_transfer(dict(batch), 0)["imu"].abs().sum() > 0


def test_evaluation_sampler_is_the_default_in_one_process() -> None:
    from harlit.data.sampling import evaluation_sampler

    assert evaluation_sampler(list(range(10))) is None


def test_the_data_package_imports_no_training_machinery() -> None:
    # harlit.data is imported by training, DDP and registry code; importing back would be a cycle.
    code = (
        "import sys, harlit.data.base, harlit.data.synthetic, harlit.data.protocol, harlit.data.augment; "
        "print(sorted(m for m in sys.modules if m in "
        "('harlit.train', 'harlit.launch', 'harlit.stage1', 'harlit.build', 'harlit.config', 'harlit.registry')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
