"""One contract between the stages: the stage-1 encoder file decides what stage 2 builds and feeds.

Each test names the defect it guards against (issue "One contract between the stages").
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from harlit import stage1
from harlit.bench.generated import make_utd_tree
from harlit.config import refuse_replaced_overrides
from harlit.encoder_file import FORMAT_VERSION, EncoderFile
from harlit.errors import HarlitError
from harlit.stage1 import Dependency, reaches_stage1, stage1_config
from harlit.train import train


def registry_files(root: Path) -> list[Path]:
    return sorted(root.rglob("encoder.pt"))


# --- 1. stage 2 builds and feeds each encoder as its stage-1 run trained it ------------------------------
def test_stage2_builds_the_encoder_its_stage1_run_trained(make_cfg, tmp_path) -> None:
    """Defect 1: an avg-pooling stage-1 encoder was loaded into a max-pooling stage-2 encoder."""
    metrics = train(make_cfg(["+experiment=synthetic_stage2"], stage1={"imu": ["model.imu.pooling=avg"]}))
    encoder = EncoderFile.load(metrics["imu_ckpt"], "imu")
    assert (
        encoder.encoder_config["pooling"] == "avg"
        and encoder.key["config"]["model"]["imu"]["pooling"] == "avg"
    )
    model_file = torch.load(metrics["model_file"], weights_only=True)
    assert model_file["model_config"]["imu"]["pooling"] == "avg"
    assert OmegaConf.load(tmp_path / "run" / "config.yaml").model.imu.pooling == "avg"
    # Stage 2 prepares each modality with its encoder's data settings, not its own defaults.
    assert model_file["preprocessing"]["imu"]["imu_length"] == 64  # TINY, from stage1_overrides.imu
    assert model_file["preprocessing"]["video"]["frame_size"] == 32


def test_a_stage2_override_that_contradicts_an_encoder_is_one_sentence_before_training(
    make_cfg, tmp_path
) -> None:
    cfg = make_cfg(
        ["+experiment=synthetic_stage2", "model.imu.pooling=max"], stage1={"imu": ["model.imu.pooling=avg"]}
    )
    with pytest.raises(HarlitError, match=r"model.imu.pooling=max contradicts .* model.imu.pooling=avg"):
        train(cfg)
    cfg = make_cfg(["+experiment=synthetic_stage2", "data.imu_length=128"])
    with pytest.raises(HarlitError, match=r"data.imu_length=128 contradicts .* data.imu_length=64"):
        train(cfg)
    assert not registry_files(tmp_path / "checkpoints")  # refused before any stage-1 training
    # Agreeing with the encoder, or setting stage 2's own knobs, is fine.
    agreeing = make_cfg(
        ["+experiment=synthetic_stage2", "data.imu_length=64", "model.video.trainable_blocks=[Mixed_5c]"]
    )
    assert stage1.dependencies(agreeing)


def test_an_explicit_encoder_file_decides_its_own_shape(make_cfg) -> None:
    narrow = train(make_cfg(["+experiment=synthetic_stage1_imu", "model.imu.channels=[8,8,8]"], run="narrow"))
    fused = train(
        make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={narrow['imu_encoder']}"], run="fused")
    )
    assert torch.load(fused["model_file"], weights_only=True)["model_config"]["imu"]["channels"] == [8, 8, 8]
    wide = make_cfg(
        [
            "+experiment=synthetic_stage2",
            f"model.imu_ckpt={narrow['imu_encoder']}",
            "model.imu.channels=[32,64,96]",
        ]
    )
    with pytest.raises(HarlitError, match=r"model.imu.channels=\[32,64,96\] contradicts .*=\[8,8,8\]"):
        train(wide)


@pytest.mark.slow
def test_the_papers_stage2_feeds_its_native_rate_imu_encoder_zero_padded(tmp_path: Path) -> None:
    """Defect 1's example: utd_stage1_imu_paper's native-rate, zero-padded encoder in stage 2."""
    from harlit.config import compose_config
    from tests.conftest import stage1_overrides

    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1, 2], subjects=[1, 2], trials=[1, 2])
    quick = [
        "trainer.max_epochs=1",
        "logger=none",
        "trainer.enable_progress_bar=false",
        "data.prepare_workers=1",
    ]
    video = ["data.num_frames=8", "data.frame_size=32", "model.video.pretrained=none", "data.batch_size=4"]
    cfg = compose_config(
        [
            "+experiment=utd_stage2_paper",
            f"data.root={root}",
            *quick,
            stage1_overrides("imu", quick),
            stage1_overrides("video", [*quick, *video]),
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'fused'}",
        ]
    )
    metrics = train(cfg)
    record = torch.load(metrics["model_file"], weights_only=True)
    assert record["preprocessing"]["imu"]["imu_length"] is None  # native rate, zero-padded, as in stage 1
    assert (
        record["preprocessing"]["imu"]["length"]
        == EncoderFile.load(metrics["imu_ckpt"]).preprocessing["imu"]["length"]
    )
    assert (
        record["model_config"]["head"]["name"] == "concat_mlp_paper" and metrics["name"] == "utd_stage2_paper"
    )
    assert record["model_config"]["imu"]["norm"] == "none"


# --- 3. what reaches stage 1 is explicit ------------------------------------------------------------------
def test_only_shared_overrides_reach_stage1(make_cfg) -> None:
    """Defect 3: stage-2 epochs, learning rate and batch size leaked into the stage-1 runs."""
    cfg = make_cfg(
        [
            "+experiment=synthetic_stage2",
            "trainer.max_epochs=3",
            "model.optimizer.lr=0.5",
            "data.batch_size=5",
            "seed=4",
            "data.train_ratio=0.5",
            "data.generator_seed=3",
            'stage1_overrides.imu=["trainer.max_epochs=2"]',
        ],
        tiny=False,
    )
    imu, video = stage1_config(cfg, "imu"), stage1_config(cfg, "video")
    assert (imu.trainer.max_epochs, imu.model.optimizer.lr, imu.data.batch_size) == (2, 3e-3, 32)
    assert (video.trainer.max_epochs, video.model.optimizer.lr, video.data.batch_size) == (8, 1e-3, 16)
    for sub in (imu, video):
        assert (sub.seed, sub.data.train_ratio, sub.data.generator_seed) == (4, 0.5, 3)


@pytest.mark.parametrize(
    ("override", "reaches"),
    [
        ("data=utd_mhad", True),
        ("data.root=/data/utd", True),
        ("data.protocol=cross_scene", True),
        ("data.train_ratio=0.25", True),
        ("data.hidden_classes=[a]", True),
        ("data.val_subjects=[1]", True),
        ("data.num_workers=8", True),
        ("seed=3", True),
        ("paths.root_dir=/x", True),
        ("trainer=gpu", True),
        ("trainer.devices=4", True),
        ("trainer.precision=bf16-mixed", True),
        ("trainer.strategy.process_group_backend=gloo", True),
        ("paths.output_dir=/x", False),
        ("trainer.max_epochs=1", False),
        ("data.batch_size=8", False),
        ("data.augment.imu_jitter=0.1", False),
        ("data.imu_length=96", False),
        ("data.frame_size=112", False),
        ("model.optimizer.lr=0.1", False),
        ("model.imu.pooling=avg", False),
        ("model/head=late", False),
        ("logger=wandb", False),
        ("name=x", False),
    ],
)
def test_the_shared_set_of_overrides(override: str, reaches: bool) -> None:
    assert reaches_stage1(override) is reaches


def test_the_old_stage1_overrides_list_names_its_replacement(make_cfg) -> None:
    with pytest.raises(HarlitError, match=r"stage1_overrides.imu=\[...\] and/or stage1_overrides.video"):
        refuse_replaced_overrides(['stage1_overrides=["++model.imu.pooling=avg"]'])
    cfg = make_cfg(["+experiment=synthetic_stage2"], tiny=False)
    cfg.stage1_overrides = ["model.imu.pooling=avg"]
    with pytest.raises(HarlitError, match="stage1_overrides is per modality"):
        train(cfg)


# --- 4. the whole stage-2 config is validated before anything trains ----------------------------------------
@pytest.mark.parametrize(
    ("overrides", "stage1", "message"),
    [
        (["model.modality_dropout=1.0"], {}, r"model.modality_dropout must be in \[0, 1\)"),
        ([], {"video": ["data.train_ratio=2"]}, r"data.train_ratio must be in \(0, 1\]"),
        (["stage1.video=synthetic_stage1_imu"], {}, "trains a imu model, not a video encoder"),
        (
            ["stage1.imu=no_such_experiment"],
            {},
            "could not compose the stage-1 experiment 'no_such_experiment'",
        ),
        (
            ["data.hidden_classes=[no_such_class]"],
            {},
            "hidden class 'no_such_class' is not a synthetic class",
        ),
    ],
)
def test_a_bad_stage2_config_stops_before_any_stage1_training(
    make_cfg, tmp_path, overrides, stage1, message
) -> None:
    """Defect 4: modality_dropout=1.0 was refused only after both stage-1 encoders had trained."""
    with pytest.raises(HarlitError, match=message):
        train(make_cfg(["+experiment=synthetic_stage2", *overrides], stage1=stage1))
    assert not registry_files(tmp_path / "checkpoints")
    assert not (tmp_path / "run" / "stage1_imu").exists()


# --- 6. under SLURM or torchrun, rank 0 decides and the other ranks follow -----------------------------------
@pytest.fixture
def external_rank(monkeypatch: pytest.MonkeyPatch):
    def become(rank: int) -> None:
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job42")

    return become


def test_a_non_zero_rank_follows_rank_zero_s_decision(make_cfg, tmp_path, external_rank) -> None:
    """Defect 6: each rank looked the registry up itself, so ranks could disagree and the job hang."""
    cfg = make_cfg(["+experiment=synthetic_stage2", "trainer.devices=2", "trainer.accelerator=cpu"])
    need = stage1.dependencies(cfg)["imu"]
    decision = tmp_path / "run" / "stage1_imu.decision.torchrun-job42-0.json"
    decision.parent.mkdir(parents=True)
    registered = tmp_path / "elsewhere" / "encoder.pt"
    external_rank(1)
    trained = []
    # Rank 0 found an encoder: rank 1 uses it, although its own lookup would find none.
    decision.write_text(json.dumps({"encoder": str(registered)}))
    assert stage1.ensure_encoder(cfg, need, trained.append) == registered and not trained
    # Rank 0 trains: rank 1 trains with it (the same DDP run), then takes what rank 0 registered.
    decision.write_text(json.dumps({"encoder": None}))
    target = stage1.CheckpointRegistry(cfg.paths.registry_dir).folder(need.key) / "encoder.pt"
    target.parent.mkdir(parents=True)

    def rank0_publishes(sub) -> None:
        trained.append(sub)
        target.write_bytes(b"published by rank 0")

    assert stage1.ensure_encoder(cfg, need, rank0_publishes) == target and len(trained) == 1


def test_rank_zero_writes_its_decision_for_the_others(make_cfg, tmp_path, external_rank) -> None:
    cfg = make_cfg(["+experiment=synthetic_stage2", "trainer.devices=2", "trainer.accelerator=cpu"])
    need = stage1.dependencies(cfg)["imu"]
    external_rank(0)

    def trains_and_publishes(sub) -> None:
        folder = stage1.CheckpointRegistry(cfg.paths.registry_dir).folder(need.key)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "encoder.pt").write_bytes(b"weights")

    found = stage1.ensure_encoder(cfg, need, trains_and_publishes)
    decision = json.loads((tmp_path / "run" / "stage1_imu.decision.torchrun-job42-0.json").read_text())
    assert decision == {"encoder": None} and found.is_file()  # "train": the others join rank 0's run


# --- 9. one type owns the encoder file ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def imu_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harlit.config import compose_config
    from tests.conftest import TINY

    root = tmp_path_factory.mktemp("imu")
    run = train(
        compose_config(
            [
                "+experiment=synthetic_stage1_imu",
                *TINY,
                f"paths.root_dir={root}",
                f"paths.output_dir={root / 'run'}",
            ]
        )
    )
    return Path(run["imu_encoder"])


def test_the_encoder_file_holds_weights_config_preprocessing_and_key(imu_encoder: Path) -> None:
    payload = torch.load(imu_encoder, map_location="cpu", weights_only=True)  # no code in the file
    assert payload["format"] == "harlit-encoder" and payload["format_version"] == FORMAT_VERSION
    encoder = EncoderFile.load(imu_encoder, "imu")
    assert encoder.config["model"]["imu"]["_target_"].endswith("IMUEncoder")
    assert encoder.data_config["imu_length"] == 64 and len(encoder.preprocessing["imu"]["mean"]) == 6
    assert json.loads((imu_encoder.parent / "key.json").read_text()) == encoder.key


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p["preprocessing"]["imu"].update(mean=None), r"has no IMU statistics"),
        (lambda p: p.pop("preprocessing"), "has no preprocessing record"),
        (lambda p: p.pop("config"), "has no stage-1 config"),
        (lambda p: p["config"]["model"].pop("imu"), "has no model.imu config"),
        (lambda p: p.update(format_version=FORMAT_VERSION + 1), "newer than this harlit reads"),
    ],
)
def test_a_missing_part_of_an_encoder_file_is_one_sentence_naming_it(
    imu_encoder, tmp_path, damage, message
) -> None:
    payload = torch.load(imu_encoder, weights_only=True)
    damage(payload)
    broken = tmp_path / "broken.pt"
    torch.save(payload, broken)
    with pytest.raises(HarlitError, match=message) as err:
        EncoderFile.load(broken, "imu")
    assert str(broken) in str(err.value)


def test_stage2_refuses_an_encoder_without_statistics_instead_of_using_its_own(
    make_cfg, imu_encoder, tmp_path
) -> None:
    """Defect 9: a file without a preprocessing record made stage 2 fall back on its own IMU statistics."""
    payload = torch.load(imu_encoder, weights_only=True)
    payload["preprocessing"]["imu"].pop("mean")
    stripped = tmp_path / "stripped.pt"
    torch.save(payload, stripped)
    with pytest.raises(HarlitError, match=f"the encoder file {stripped} has no IMU statistics"):
        train(make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={stripped}"]))
    assert not registry_files(tmp_path / "checkpoints")


def test_an_encoder_file_of_the_old_format_is_refused_in_one_line(tmp_path) -> None:
    old = tmp_path / "old.pt"
    torch.save({"modality": "imu", "encoder_state_dict": {"w": torch.zeros(1)}, "key": "{}"}, old)
    with pytest.raises(
        HarlitError, match=rf"{old} predates encoder-file format {FORMAT_VERSION} .* retrains"
    ):
        EncoderFile.load(old, "imu")


def test_registry_publishing_compares_weights_through_the_encoder_file(imu_encoder, tmp_path) -> None:
    from harlit.registry import CheckpointRegistry

    encoder = EncoderFile.load(imu_encoder)
    registry = CheckpointRegistry(tmp_path / "registry")
    key = {"dataset": "synthetic", "modality": "imu", "seed": 0}
    assert registry.publish(key, imu_encoder, {}).status == "added"
    assert registry.publish(key, imu_encoder, {}).status == "identical"
    other = tmp_path / "other.pt"
    dataclasses.replace(encoder, state_dict={k: v + 1 for k, v in encoder.state_dict.items()}).save(other)
    assert registry.publish(key, other, {}).status == "kept_other"
    assert EncoderFile.load(registry.lookup(key)).same_weights(encoder)


def test_dependencies_are_explicit_files_or_keyed_configs(make_cfg, imu_encoder) -> None:
    needs = stage1.dependencies(make_cfg(["+experiment=synthetic_stage2", f"model.imu_ckpt={imu_encoder}"]))
    assert needs["imu"] == Dependency("imu", explicit=imu_encoder)
    assert needs["video"].config is not None and needs["video"].key["modality"] == "video"
    assert os.fspath(needs["video"].config.paths.output_dir).endswith("stage1_video")


def test_the_demo_s_stage2_reuses_the_encoders_its_first_stages_trained(tmp_path: Path) -> None:
    from harlit import demo
    from tests.conftest import TINY

    rows = dict(demo.main([*TINY, f"paths.root_dir={tmp_path}"]))
    fused = rows["IMU + video"]
    assert fused["imu_ckpt"] == rows["IMU only"]["imu_encoder"]
    assert fused["video_ckpt"] == rows["video only"]["video_encoder"]
    assert not (Path(fused["run_dir"]) / "stage1_imu").exists()  # nothing trained twice
