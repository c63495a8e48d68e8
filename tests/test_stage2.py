"""Stage 2: what trains, what stays frozen, and how stage-1 checkpoints are found, reused and checked."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from harlit.config import instantiate
from harlit.errors import HarlitError
from harlit.models.classifier import HARClassifier
from harlit.train import train

FROZEN = [
    "Conv3d_1a",
    "Conv3d_2b",
    "Conv3d_2c",
    "Mixed_3b",
    "Mixed_3c",
    "Mixed_4b",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "Mixed_5b",
]


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module, suffix: str = "") -> bool:
    after = module.state_dict()
    return any(not torch.equal(before[k], after[k]) for k in before if k.endswith(suffix))


def test_stage2_step_trains_only_the_named_blocks(make_cfg) -> None:
    cfg = make_cfg()
    dm = instantiate(cfg.data, modalities=["imu", "video"])
    model: HARClassifier = instantiate(cfg.model, num_classes=dm.num_classes, imu_ckpt=None, video_ckpt=None)
    video, imu = model.encoders["video"], model.encoders["imu"]
    frozen_before = {name: snapshot(getattr(video.blocks, name)) for name in FROZEN}
    trained_before = {
        "Mixed_4c": snapshot(video.blocks.Mixed_4c),
        "Mixed_5c": snapshot(video.blocks.Mixed_5c),
        "imu": snapshot(imu),
        "head": snapshot(model.head),
    }
    trainer = pl.Trainer(
        max_steps=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)

    for name, before in frozen_before.items():
        block = getattr(video.blocks, name)
        assert not changed(before, block), f"{name} moved"  # weights and BN running stats alike
        assert not block.training
    assert changed(trained_before["Mixed_4c"], video.blocks.Mixed_4c, "weight")
    assert changed(trained_before["Mixed_4c"], video.blocks.Mixed_4c, "running_mean")
    assert changed(trained_before["Mixed_5c"], video.blocks.Mixed_5c, "weight")
    assert changed(trained_before["imu"], imu, "weight")
    assert changed(trained_before["head"], model.head, "weight")
    # Frozen parameters get no optimizer state at all.
    optimizer = trainer.optimizers[0]
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    frozen_params = [p for name in FROZEN for p in getattr(video.blocks, name).parameters()]
    assert not any(id(p) in in_optimizer for p in frozen_params)
    assert all(p not in optimizer.state for p in frozen_params)


def registry_files(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("encoder.pt")}


def test_stage2_trains_missing_stage1_then_reuses_and_loads_exactly(make_cfg, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="harlit")
    first = train(make_cfg(["+experiment=synthetic_stage2"], run="first"))
    assert "No stage-1 imu encoder for this setting yet: training it first" in caplog.text
    assert "No stage-1 video encoder for this setting yet: training it first" in caplog.text
    assert (tmp_path / "first" / "stage1_imu" / "metrics.json").is_file()
    files = registry_files(tmp_path / "checkpoints")
    assert len(files) == 2 and first["imu_ckpt"] in files and first["video_ckpt"] in files

    caplog.clear()
    second = train(make_cfg(["+experiment=synthetic_stage2"], run="second"))
    assert "training it first" not in caplog.text and caplog.text.count("Reusing the stage-1") == 2
    assert registry_files(tmp_path / "checkpoints") == files  # nothing retrained or rewritten
    assert (second["imu_ckpt"], second["video_ckpt"]) == (first["imu_ckpt"], first["video_ckpt"])

    # Stage 2 starts from exactly the stage-1 weights, from the registry or from the run's Lightning checkpoint.
    cfg = make_cfg(["+experiment=synthetic_stage2"])
    dm = instantiate(cfg.data, modalities=["imu", "video"])
    lightning_ckpt = tmp_path / "first" / "stage1_imu" / "checkpoints" / "last.ckpt"
    model = instantiate(
        cfg.model, num_classes=dm.num_classes, imu_ckpt=str(lightning_ckpt), video_ckpt=first["video_ckpt"]
    )
    stage1_imu = torch.load(lightning_ckpt, map_location="cpu", weights_only=False)["state_dict"]
    stage1_video = torch.load(first["video_ckpt"], map_location="cpu", weights_only=True)["state_dict"]
    for key, value in model.encoders["imu"].state_dict().items():
        assert torch.equal(value, stage1_imu[f"encoders.imu.{key}"])
    for key, value in model.encoders["video"].state_dict().items():
        assert torch.equal(value, stage1_video[key])


def test_stage2_reuses_the_encoder_of_a_direct_stage1_run(make_cfg, caplog) -> None:
    # The same stage-1 settings given directly, or through stage1_overrides: one encoder. Stage 2's own
    # batch size stays with stage 2.
    stage1 = train(make_cfg(["+experiment=synthetic_stage1_imu"], run="imu"))
    caplog.set_level(logging.INFO, logger="harlit")
    fused = train(make_cfg(["+experiment=synthetic_stage2", "data.batch_size=6"], run="fused"))
    assert "Reusing the stage-1 imu" in caplog.text and "No stage-1 imu encoder" not in caplog.text
    assert fused["imu_ckpt"] == stage1["imu_encoder"]


def test_explicit_checkpoint_overrides_the_registry(make_cfg, tmp_path, caplog) -> None:
    stage1 = train(make_cfg(["+experiment=synthetic_stage1_imu"], run="imu"))
    caplog.set_level(logging.INFO, logger="harlit")
    ckpt = tmp_path / "imu" / "checkpoints" / "last.ckpt"
    metrics = train(make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={ckpt}"], run="fused"))
    assert metrics["imu_ckpt"] == str(ckpt) and stage1["imu_encoder"] != str(ckpt)
    assert "No stage-1 imu encoder" not in caplog.text and "No stage-1 video encoder" in caplog.text


def test_stage1_key_separates_settings(make_cfg, tmp_path) -> None:
    train(make_cfg(["+experiment=synthetic_stage1_imu"], run="a"))
    train(make_cfg(["+experiment=synthetic_stage1_imu", "data.train_ratio=0.5"], run="b"))
    train(make_cfg(["+experiment=synthetic_stage1_imu", "model.imu.channels=[8,8,8]"], run="c"))
    train(make_cfg(["+experiment=synthetic_stage1_imu", "seed=1"], run="d"))
    train(
        make_cfg(["+experiment=synthetic_stage1_imu", "data.eval_batch_size=4"], run="e")
    )  # loader-only: same key
    assert len(registry_files(tmp_path / "checkpoints")) == 4
    # The training recipe is part of the key: a shorter or differently optimised run is another encoder.
    train(make_cfg(["+experiment=synthetic_stage1_imu", "model.optimizer.lr=0.5"], run="f"))
    train(make_cfg(["+experiment=synthetic_stage1_imu", "model.label_smoothing=0.1"], run="g"))
    train(make_cfg(["+experiment=synthetic_stage1_imu", "trainer.max_epochs=2"], run="h"))
    train(make_cfg(["+experiment=synthetic_stage1_imu", "data.batch_size=4"], run="i"))
    assert len(registry_files(tmp_path / "checkpoints")) == 8


def test_weights_that_do_not_fit_their_own_config_are_a_clear_error(make_cfg, tmp_path) -> None:
    import dataclasses

    from harlit.encoder_file import EncoderFile

    stage1 = train(make_cfg(["+experiment=synthetic_stage1_imu", "model.imu.channels=[8,8,8]"], run="narrow"))
    encoder = EncoderFile.load(stage1["imu_encoder"])
    config = {
        **encoder.config,
        "model": {**encoder.config["model"], "imu": {**encoder.encoder_config, "channels": [4, 4, 4]}},
    }
    damaged = tmp_path / "damaged.pt"
    dataclasses.replace(encoder, config=config).save(damaged)
    with pytest.raises(HarlitError, match="does not match model.imu"):
        train(make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={damaged}"]))


def test_unreadable_or_wrong_checkpoint_is_a_clear_error(make_cfg, tmp_path) -> None:
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(HarlitError, match="is unreadable"):
        train(make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={garbage}"]))
    with pytest.raises(HarlitError, match="does not exist"):
        train(make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={tmp_path / 'missing.ckpt'}"]))
    video_encoder = train(make_cfg(["+experiment=synthetic_stage1_video"], run="video"))["video_encoder"]
    with pytest.raises(HarlitError, match="holds a video encoder, not a imu one"):
        train(make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={video_encoder}"]))


def test_stage1_key_holds_the_trainable_blocks(make_cfg) -> None:
    """A stage-1 video run that fine-tunes only some blocks is another encoder than a full fine-tune."""
    from harlit.stage1 import key_of

    full = key_of(make_cfg(["+experiment=synthetic_stage1_video"]), "video")
    partial = key_of(
        make_cfg(["+experiment=synthetic_stage1_video", "model.video.trainable_blocks=[Mixed_5c]"]), "video"
    )
    fast = key_of(make_cfg(["+experiment=synthetic_stage1_video", "model.video.channels_last=true"]), "video")
    assert full != partial and full == fast  # channels_last changes speed, not weights


def test_stage2_reuses_the_full_stage1_video_encoder_whatever_blocks_it_fine_tunes(make_cfg) -> None:
    from harlit.stage1 import key_of, stage1_config

    stage2 = make_cfg(["+experiment=synthetic_stage2", "model.video.trainable_blocks=[Mixed_5c]"])
    sub = stage1_config(stage2, "video")
    assert sub.model.video.trainable_blocks == "all"
    plain = stage1_config(make_cfg(["+experiment=synthetic_stage2"]), "video")
    assert key_of(sub, "video") == key_of(plain, "video")
    # A head sweep (model/head=...) stays with stage 2 too: each encoder is trained once.
    other_head = make_cfg(["+experiment=synthetic_stage2", "model/head=linear"])
    assert key_of(stage1_config(other_head, "imu"), "imu") == key_of(stage1_config(stage2, "imu"), "imu")


def test_the_registry_never_overwrites_an_encoder_silently(tmp_path) -> None:
    from harlit.encoder_file import EncoderFile
    from harlit.registry import CheckpointRegistry

    registry = CheckpointRegistry(tmp_path / "registry")
    key = {"dataset": "synthetic", "modality": "imu", "seed": 0}
    config = {"data": {"imu_length": 64}, "model": {"imu": {"_target_": "harlit.models.imu_cnn.IMUEncoder"}}}
    preprocessing = {"imu": {"mean": [0.0], "std": [1.0]}}

    def encoder_file(name: str, value: float) -> Path:
        path = tmp_path / name
        EncoderFile("imu", {"w": torch.full((2,), value)}, config, preprocessing, key).save(path)
        return path

    first = registry.publish(key, encoder_file("a.pt", 1.0), {"run": "a"})
    assert first.status == "added" and first.registered
    same = registry.publish(key, encoder_file("b.pt", 1.0), {"run": "b"})
    assert same.status == "identical" and same.path == first.path
    other = registry.publish(key, encoder_file("c.pt", 2.0), {"run": "c"})
    assert other.status == "kept_other" and not other.registered and str(first.path) in other.note
    stored = torch.load(first.path, weights_only=True)["state_dict"]["w"]
    assert torch.equal(stored, torch.full((2,), 1.0))  # the first encoder stays
    assert json.loads((first.path.parent / "metrics.json").read_text())["run"] == "a"


def test_a_rerun_with_other_weights_keeps_the_registered_encoder(make_cfg, monkeypatch) -> None:
    first = train(make_cfg(["+experiment=synthetic_stage1_imu"], run="first"))
    registered = Path(first["imu_encoder"])
    before = registered.stat().st_mtime_ns
    # Same key, other weights (a nondeterministic GPU rerun, say): simulated by perturbing the run's file.
    from harlit import outputs

    original = outputs.encoder_file_of

    def perturbed(model, cfg, key):
        encoder = original(model, cfg, key)
        return dataclasses.replace(encoder, state_dict={k: v + 1 for k, v in encoder.state_dict.items()})

    monkeypatch.setattr(outputs, "encoder_file_of", perturbed)
    rerun = train(make_cfg(["+experiment=synthetic_stage1_imu"], run="rerun"))
    assert registered.stat().st_mtime_ns == before
    assert rerun["registered"] is False and "kept it" in rerun["registry_note"]
    assert rerun["imu_encoder"] == str(registered)
