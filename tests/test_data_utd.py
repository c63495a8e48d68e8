"""UTD-MHAD: the real inertial files, generated .mat/.avi trees, bad samples, every stage end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from harlit.bench.generated import make_utd_tree, utd_signal, write_video
from harlit.config import compose_config
from harlit.data.utd_mhad import (
    ABSENT_FROM_DATASET,
    CLASS_NAMES,
    UTDMHADDataModule,
    parse_name,
    read_inertial,
)
from harlit.errors import HarlitError
from harlit.train import train
from tests.conftest import stage1_both
from tests.data_fixtures import TINY_LOADER, UTD_INERTIAL, requires_shared_data

REAL_INERTIAL = "the real UTD-MHAD inertial files"
TINY = ["data.num_frames=8", "data.frame_size=32", "data.imu_length=64", "data.prepare_workers=1"]


def utd(root: Path, modalities: tuple[str, ...] = ("imu",), **kwargs) -> UTDMHADDataModule:
    kwargs = {"imu_channels": 6, **TINY_LOADER, **kwargs}
    return UTDMHADDataModule(
        root=str(root), modalities=modalities, cache_dir=str(root.parent / "cache"), **kwargs
    )


def test_class_names_are_the_27_in_dataset_order() -> None:
    assert len(CLASS_NAMES) == 27
    assert CLASS_NAMES[:3] == ["swipe_left", "swipe_right", "wave"]
    assert CLASS_NAMES[8:10] == ["draw_circle_CW", "draw_circle_CCW"]
    assert CLASS_NAMES[-1] == "squat"
    assert parse_name("a23_s5_t4_inertial.mat") == (23, 5, 4, "imu")
    assert parse_name("a1_s8_t1_color.avi") == (1, 8, 1, "video")
    assert parse_name("a1_s8_t1_color.mat") is None
    assert parse_name("a1_s8_t1_depth.mat") is None


def test_real_inertial_files() -> None:
    requires_shared_data(UTD_INERTIAL, REAL_INERTIAL)
    dm = UTDMHADDataModule(root=str(UTD_INERTIAL), modalities=["imu"], imu_channels=6, imu_length=96)
    dm.setup("fit")
    table = dm.table
    assert len(table) == 861
    assert dm.num_classes == 27 and len(np.unique(table.labels)) == 27
    assert (len(dm.train_set), len(dm.test_set)) == (431, 430)
    assert set(np.unique(table.subjects[dm.train_set.indices])) == {1, 3, 5, 7}
    assert set(np.unique(table.subjects[dm.test_set.indices])) == {2, 4, 6, 8}
    assert table.imu.shape == (861, 6, 96) and table.imu.dtype == torch.float32
    row = table.ids.index("a23_s5_t4")
    assert (table.labels[row], table.subjects[row]) == (22, 5)  # a23 -> "catch", index 22
    assert CLASS_NAMES[table.labels[table.ids.index("a1_s2_t3")]] == "swipe_left"
    # The raw recording keeps its own length; the cross-check value from independent code.
    assert read_inertial(UTD_INERTIAL / "a23_s5_t4_inertial.mat").shape == (184, 6)
    # The three ids missing from the dataset itself are reported as absent, not as bad samples.
    assert sorted(dm.absent_ids) == sorted(ABSENT_FROM_DATASET)
    assert dm.not_found == [] and dm.bad_samples == []
    described = dm.describe()
    assert described["absent_from_dataset"] == list(dm.absent_ids) and described["bad_samples"] == 0
    # Training statistics normalise the IMU: the training split is ~zero mean, unit std per channel.
    train_imu = torch.stack([dm.train_set[i]["imu"] for i in range(len(dm.train_set))])
    assert train_imu.mean(dim=(0, 2)).abs().max() < 1e-3
    assert (train_imu.std(dim=(0, 2)) - 1).abs().max() < 1e-2


def test_validation_subjects_come_from_training_subjects() -> None:
    requires_shared_data(UTD_INERTIAL, REAL_INERTIAL)
    dm = UTDMHADDataModule(
        root=str(UTD_INERTIAL), modalities=["imu"], imu_channels=6, imu_length=64, val_subjects=[7]
    )
    dm.setup("fit")
    assert set(np.unique(dm.table.subjects[dm.val_set.indices])) == {7}
    assert len(dm.train_set) + len(dm.val_set) == 431
    with pytest.raises(HarlitError, match="are test subjects"):
        UTDMHADDataModule(root=str(UTD_INERTIAL), modalities=["imu"], val_subjects=[2])


def test_generated_tree_both_layouts(tmp_path: Path) -> None:
    for parts in (False, True):
        root = tmp_path / f"utd_parts{parts}"
        ids = make_utd_tree(root, rgb_parts=parts)
        dm = utd(root, ("imu", "video"))
        dm.setup("fit")
        assert sorted(dm.table.ids) == sorted(ids)
        clip = dm.table.video[0]
        assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.uint8
        assert dm.table.imu.shape == (len(ids), 6, 64)
        item = dm.train_set[0]
        assert set(item) >= {"imu", "video", "label"}
        assert len(dm.train_set) == 6 and len(dm.test_set) == 6  # subject 1 trains, subject 2 tests


def test_video_frames_are_sampled_on_normalised_time(tmp_path: Path) -> None:
    # 32 frames at an effective 15 fps: 8 sampled frames are the centres of 8 equal segments of the clip,
    # whatever rate the container declares, so they line up with the IMU resampled over the same interval.
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1], subjects=[1], trials=[1], frames=32)
    # One sample has no train/test split to set up: the table is what this test reads.
    table = utd(root, ("video",), num_frames=8).build_table()
    clip = table.video[0].float()
    expected = [int((i + 0.5) / 8 * 32) for i in range(8)]  # frames 2, 6, 10, ...
    reference = write_video(tmp_path / "ref.avi", 32, 64, 48, seed=111)
    from harlit.data.clip_format import ClipSettings
    from harlit.data.video_decode import decode_clip

    every = torch.from_numpy(decode_clip(reference, ClipSettings(32, 32))).float()
    assert torch.allclose(clip, every[:, expected], atol=3)


def test_subjects_that_leave_a_split_empty_are_named(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, with_video=False)  # subjects 1 and 2
    with pytest.raises(HarlitError) as err:
        utd(root, train_subjects=[1], test_subjects=[3]).setup("fit")
    assert str(err.value) == (
        "the utd_mhad test split is empty; change data.train_subjects=[1] or data.test_subjects=[3] "
        "(the samples have subjects [1, 2])."
    )


def test_no_data_says_where_and_what(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarlitError) as err:
        utd(tmp_path / "empty").setup("fit")
    message = str(err.value)
    assert str((tmp_path / "empty").resolve()) in message and "a{A}_s{S}_t{T}_inertial.mat" in message
    with pytest.raises(HarlitError, match="is not a folder"):
        utd(tmp_path / "nowhere").setup("fit")
    # IMU present but no video at all: the video layout is what is missing.
    make_utd_tree(tmp_path / "imu_only", actions=[1], subjects=[1], trials=[1], with_video=False)
    with pytest.raises(
        HarlitError, match=r"found no utd_mhad video files \(a\{A\}_s\{S\}_t\{T\}_color.avi\)"
    ):
        utd(tmp_path / "imu_only", ("imu", "video")).setup("fit")


def plant_bad_utd_files(root: Path) -> dict[str, str]:
    """One of each bad-sample case; returns file name -> expected reason prefix."""
    make_utd_tree(root, actions=[1, 2], subjects=[1, 2], trials=[1])
    scipy.io.savemat(root / "Inertial" / "a3_s1_t1_inertial.mat", {"something_else": utd_signal(3, 1, 1)})
    write_video(root / "RGB" / "a3_s1_t1_color.avi", 8, 64, 48)
    nan = utd_signal(3, 2, 1)
    nan[10, 2] = np.nan
    scipy.io.savemat(root / "Inertial" / "a3_s2_t1_inertial.mat", {"d_iner": nan})
    write_video(root / "RGB" / "a3_s2_t1_color.avi", 8, 64, 48)
    scipy.io.savemat(root / "Inertial" / "a4_s1_t1_inertial.mat", {"d_iner": utd_signal(4, 1, 1)})  # no .avi
    scipy.io.savemat(root / "Inertial" / "a4_s2_t1_inertial.mat", {"d_iner": utd_signal(4, 2, 1)})
    (root / "RGB" / "a4_s2_t1_color.avi").write_bytes(b"this is not a video" * 50)
    return {
        "a3_s1_t1_inertial.mat": "no d_iner",
        "a3_s2_t1_inertial.mat": "NaN values",
        "a4_s1_t1_inertial.mat": "missing modality",
        "a4_s2_t1_color.avi": "undecodable video",
    }


def test_bad_samples_fail_with_one_message_listing_all(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    planted = plant_bad_utd_files(root)
    with pytest.raises(HarlitError) as err:
        utd(root, ("imu", "video")).setup("fit")
    message = str(err.value)
    assert message.startswith("4 bad utd_mhad sample(s)")
    assert "data.on_bad_sample=skip" in message
    for name, reason in planted.items():
        line = next(line for line in message.splitlines() if name in line)
        assert reason in line, line
    for count in ("1 no d_iner", "1 NaN values", "1 missing modality", "1 undecodable video"):
        assert count in message


def test_bad_samples_skip_writes_the_list_with_counts(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    planted = plant_bad_utd_files(root)
    report = tmp_path / "run"
    dm = utd(root, ("imu", "video"), on_bad_sample="skip", report_dir=str(report))
    dm.setup("fit")
    assert len(dm.table) == 4  # the good a1/a2 samples
    assert dm.describe()["bad_samples"] == 4 and dm.dropped["bad_samples"] == 4
    text = (report / "bad_samples.txt").read_text()
    assert text.startswith("# 4 bad utd_mhad sample file(s) skipped")
    for reason in ("no d_iner", "NaN values", "missing modality", "undecodable video"):
        assert f"# 1\t{reason}" in text
    for name in planted:
        assert name in text


def test_bad_file_names_and_duplicates_are_bad_samples(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1], subjects=[1, 2], trials=[1], with_video=False)
    scipy.io.savemat(root / "Inertial" / "a28_s1_t1_inertial.mat", {"d_iner": utd_signal(1, 1, 1)})
    (root / "copy").mkdir()
    shutil.copy(root / "Inertial" / "a1_s1_t1_inertial.mat", root / "copy" / "a1_s1_t1_inertial.mat")
    with pytest.raises(HarlitError) as err:
        utd(root).setup("fit")
    assert "2 bad utd_mhad sample(s)" in str(err.value)
    assert "a28_s1_t1_inertial.mat: bad file name" in str(err.value)
    assert "duplicate file" in str(err.value)


def compose_tiny(tmp_path: Path, experiment: str, root: Path, *extra: str):
    quick = ["trainer.max_epochs=1", "logger=none", "trainer.enable_progress_bar=false"]
    no_download = ["model.video.pretrained=none"]  # no Kinetics download in tests
    if "stage2" in experiment:  # the encoders' settings go to their stage-1 runs
        tiny = ["data.prepare_workers=1", *quick, *stage1_both([*TINY, *quick], video=no_download)]
    else:
        tiny = [*quick, *TINY, *([] if experiment.endswith("_imu") else no_download)]
    return compose_config(
        [
            f"+experiment={experiment}",
            f"data.root={root}",
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'runs' / experiment}",
            *tiny,
            *extra,
        ]
    )


def test_experiments_compose_with_the_papers_settings() -> None:
    cfg = compose_config(["+experiment=utd_stage1_imu"])
    assert (
        cfg.data.batch_size == 128
        and cfg.model.optimizer.lr == 1e-4
        and cfg.model.optimizer.weight_decay == 1e-6
    )
    assert cfg.data.root.endswith("/data/utd_mhad")
    cfg = compose_config(["+experiment=utd_stage1_video"])
    assert (cfg.data.batch_size, cfg.model.optimizer.lr, cfg.model.optimizer.weight_decay) == (16, 1e-3, 1e-5)
    assert cfg.model.video.pretrained == "kinetics400" and (cfg.data.num_frames, cfg.data.frame_size) == (
        16,
        224,
    )
    cfg = compose_config(["+experiment=utd_stage2"])
    assert (cfg.data.batch_size, cfg.model.optimizer.lr, cfg.model.optimizer.weight_decay) == (16, 5e-4, 5e-6)
    assert dict(cfg.stage1) == {"imu": "utd_stage1_imu", "video": "utd_stage1_video"}


def test_stage1_imu_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, with_video=False)
    metrics = train(compose_tiny(tmp_path, "utd_stage1_imu", root))
    assert metrics["num_train"] == 6 and metrics["num_test"] == 6 and 0 <= metrics["test/top1"] <= 1
    assert metrics["absent_from_dataset"] == list(ABSENT_FROM_DATASET)


@pytest.mark.slow
def test_stage2_trains_its_stage1_encoders_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1, 2], subjects=[1, 2], trials=[1, 2])
    metrics = train(compose_tiny(tmp_path, "utd_stage2", root))
    assert metrics["stage"] == 2 and metrics["num_test"] == 4
    for modality in ("imu", "video"):
        assert Path(metrics[f"{modality}_ckpt"]).is_file()
        stage1 = json.loads(
            (tmp_path / "runs" / "utd_stage2" / f"stage1_{modality}" / "metrics.json").read_text()
        )
        assert stage1["modality"] == modality and stage1["dataset"] == "utd_mhad"
    # The clips were decoded once into the cache under paths.cache_dir.
    assert list((tmp_path / "cache" / "video").glob("utd_mhad-*/clips/*.npy"))
