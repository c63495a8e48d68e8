"""MMAct: CSV quirks, layout parsing, classes, protocols, bad samples, every stage end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harlit.bench.generated import SENSOR_FOLDERS, make_mmact_tree, write_mmact_sample
from harlit.config import compose_config, instantiate
from harlit.data.clip_format import ClipSettings
from harlit.data.mmact import (
    CLASS_NAMES_35,
    CLASS_NAMES_37,
    CROSS_VIEW_IMU_ERROR,
    IMU_SEEN_KEY,
    MMActDataModule,
)
from harlit.data.mmact_sensors import SENSORS, fuse_sensors, parse_timestamp, read_sensor_csv
from harlit.data.video_decode import decode_clip
from harlit.errors import HarlitError
from harlit.train import train
from tests.conftest import stage1_both, stage1_overrides
from tests.data_fixtures import MMACT_CLIP, TINY_LOADER, requires_shared_data

TINY = ["data.num_frames=8", "data.frame_size=32", "data.imu_length=64", "data.prepare_workers=1"]


def mmact(root: Path, modalities: tuple[str, ...] = ("imu", "video"), **kwargs) -> MMActDataModule:
    kwargs = {"imu_channels": 12, **TINY_LOADER, **kwargs}
    return MMActDataModule(
        root=str(root), modalities=modalities, cache_dir=str(root.parent / "cache"), **kwargs
    )


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path / "mmact"
    return root, make_mmact_tree(root)


def test_class_lists() -> None:
    assert len(CLASS_NAMES_35) == len(set(CLASS_NAMES_35)) == 35
    assert len(CLASS_NAMES_37) == len(set(CLASS_NAMES_37)) == 37
    assert {"talking_on_phone_desk", "using_phone_desk"} <= set(CLASS_NAMES_37) - set(CLASS_NAMES_35)
    assert CLASS_NAMES_37.count("using_phone") == 1


def test_timestamps_with_and_without_fraction() -> None:
    assert parse_timestamp("20181011_10:27:03.250") - parse_timestamp("20181011_10:27:03") == pytest.approx(
        0.25
    )
    assert parse_timestamp("20181012_00:00:00") - parse_timestamp("20181011_23:59:59.500") == pytest.approx(
        0.5
    )


def test_csv_quirks_are_normalised(tree: tuple[Path, dict[str, list[str]]]) -> None:
    _, planted = tree
    times, values, quirks = read_sensor_csv(planted["no_fraction"][0])
    assert np.all(np.diff(times) > 0) and quirks == {"unordered_rows": 0, "duplicate_rows": 0}
    assert np.allclose(
        np.diff(times), 0.02
    )  # the HH:MM:SS row sits on its whole second, 20 ms from its neighbours
    times, values, quirks = read_sensor_csv(planted["unordered_and_duplicates"][0])
    assert quirks == {"unordered_rows": 1, "duplicate_rows": 2}
    assert np.all(np.diff(times) > 0) and len(times) == len(values) == 200  # 2 s at 100 Hz, each row once


def test_sensors_of_different_lengths_share_one_timeline() -> None:
    recordings = {
        "acc_phone": (np.arange(0, 2.0, 0.01), np.ones((200, 3))),
        "acc_watch": (np.arange(0.05, 2.3, 0.01), np.full((225, 3), 2.0)),
        "gyro": (np.arange(0.1, 2.5, 0.02), np.full((120, 3), 3.0)),
        "orientation": (np.arange(0.0, 1.8, 0.02), np.full((90, 3), 4.0)),
    }
    fused = fuse_sensors(recordings, 50.0, "x")
    # The interval all four cover: 0.1 .. 1.78 s, at 50 Hz.
    assert fused.shape == (int(np.floor(1.68 * 50)) + 1, 12)
    assert np.allclose(fused[:, [0, 3, 6, 9]], [1, 2, 3, 4])


def test_tree_layout_classes_and_quirks(tree: tuple[Path, dict[str, list[str]]]) -> None:
    root, _ = tree
    dm = mmact(root)
    dm.setup("fit")
    table = dm.table
    assert len(table) == 18  # 9 actions x 2 cameras
    assert table.imu.shape == (18, 12, 64) and table.video[0].shape == (3, 8, 32, 32)
    names = [dm.class_names[label] for label in table.labels]
    by_id = dict(zip(table.ids, names, strict=True))
    assert by_id["subject1_cam1_scene3_session1_talking_on_phone"] == "talking_on_phone_desk"
    assert by_id["subject2_cam2_scene3_session1_using_phone"] == "using_phone_desk"
    assert by_id["subject2_cam1_scene1_session1_talking_on_phone"] == "talking_on_phone"
    assert (
        by_id["subject1_cam1_scene1_session2_carrying_light"] == "carrying_light"
    )  # from Carrying_light.mp4/.csv
    assert set(table.groups) == {"subject", "cam", "scene", "session"}
    # One sensor recording serves every camera of the action.
    rows = [table.ids.index(f"subject1_cam{c}_scene1_session1_walking") for c in (1, 2)]
    assert torch.equal(table.imu[rows[0]], table.imu[rows[1]])
    assert dm.dropped["sensor_duplicate_rows"] == 2 and dm.describe()["sensor_unordered_rows"] == 1
    # Cross-subject: subjects 1-16 train, 17-20 test.
    assert set(table.subjects[dm.train_set.indices]) == {1, 2} and set(
        table.subjects[dm.test_set.indices]
    ) == {17}


def test_35_classes_keep_file_names(tree: tuple[Path, dict[str, list[str]]]) -> None:
    root, _ = tree
    dm = mmact(root, classes=35)
    dm.setup("fit")
    assert dm.num_classes == 35
    row = dm.table.ids.index("subject1_cam1_scene3_session1_talking_on_phone")
    assert dm.class_names[dm.table.labels[row]] == "talking_on_phone"


# The tiny tree's scene 3 (the desk scene) holds the only *_desk samples, classes that no other scene
# has: testing on it is a zero-shot run for those two classes, so they are hidden, as they must be.
DESK_CLASSES = ["talking_on_phone_desk", "using_phone_desk"]


@pytest.mark.parametrize(
    ("protocol", "group", "test_values", "hidden", "modalities"),
    [
        ("cross_view", "cam", {2}, [], ("video",)),  # IMU-only runs refuse cross_view
        ("cross_scene", "scene", {3}, DESK_CLASSES, ("imu",)),
        ("cross_session", "session", {2}, [], ("imu",)),
    ],
)
def test_protocols(
    tree: tuple[Path, dict[str, list[str]]],
    protocol: str,
    group: str,
    test_values: set[int],
    hidden: list[str],
    modalities: tuple[str, ...],
) -> None:
    root, _ = tree
    dm = mmact(
        root,
        modalities,
        protocol=protocol,
        test_cams=[2],
        test_scenes=[3],
        test_sessions=[2],
        hidden_classes=hidden,
    )
    dm.setup("fit")
    values = dm.table.groups[group]
    assert set(values[dm.test_set.indices]) == test_values
    assert not set(values[dm.train_set.indices]) & test_values
    assert len(dm.train_set) + len(dm.test_set) == len(dm.table)


def test_cross_view_without_its_test_camera_fails_before_training(
    tree: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    # The tree has cameras 1 and 2; cross-view tests camera 4 by default, so the test split is empty.
    root, _ = tree
    paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}", *TINY]
    cfg = compose_config(
        ["+experiment=mmact_stage1_video", "data.protocol=cross_view", f"data.root={root}", *paths]
    )
    dm = instantiate(cfg.data, modalities=["video"], _convert_="all")
    with pytest.raises(HarlitError) as err:
        dm.setup("fit")
    assert str(err.value) == (
        "the mmact test split is empty; change data.test_cams=[4] (the samples have cams [1, 2]) "
        "or data.protocol=cross_view."
    )


def test_empty_training_split_names_the_keys_that_emptied_it(tree: tuple[Path, dict[str, list[str]]]) -> None:
    root, _ = tree
    with pytest.raises(HarlitError) as err:
        mmact(root, ("video",), protocol="cross_view", test_cams=[1, 2]).setup("fit")
    assert str(err.value) == (
        "the mmact training split is empty; change data.test_cams=[1, 2] (the samples have cams [1, 2]) "
        "or data.protocol=cross_view."
    )
    with pytest.raises(HarlitError) as err:
        mmact(root, ("imu",), val_subjects=[1, 2]).setup("fit")  # validation subjects leave training
    assert str(err.value).startswith("the mmact training split is empty; change data.train_subjects=[1, 2, ")
    assert str(err.value).endswith(
        "data.test_subjects=[17, 18, 19, 20], data.protocol=cross_subject or data.val_subjects=[1, 2]."
    )


def test_training_split_without_a_test_class_fails_unless_it_is_hidden(
    tree: tuple[Path, dict[str, list[str]]],
) -> None:
    root, _ = tree
    with pytest.raises(HarlitError) as err:
        mmact(root, ("imu",), protocol="cross_scene", test_scenes=[3]).setup("fit")
    assert str(err.value) == (
        "the mmact training split has no sample of talking_on_phone_desk, using_phone_desk, which the "
        "test split has; change data.test_scenes=[3] (the samples have scenes [1, 3]) or data.protocol=cross_scene."
    )
    # Hidden classes are absent from training by design: stage 1 and stage 2 both accept the split.
    for modalities, hidden_from in ((("imu",), "both"), (("imu", "video"), "imu")):
        dm = mmact(
            root,
            modalities,
            protocol="cross_scene",
            test_scenes=[3],
            hidden_classes=DESK_CLASSES,
            hidden_from=hidden_from,
        )
        dm.setup("fit")
        assert {dm.class_names[c] for c in dm.table.labels[dm.test_set.indices]} >= set(DESK_CLASSES)


def test_other_release_nesting_is_found_by_folder_names(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    write_mmact_sample(root / "release", 3, 1, 1, "kicking", cams=[1])
    # Move the camera level above the subject level: prefixes still identify every folder.
    source = root / "release" / "Video_trimmed" / "subject3" / "cam1"
    target = root / "release" / "videos" / "cam1" / "subject3"
    target.parent.mkdir(parents=True)
    source.rename(target)
    dm = mmact(root, test_subjects=[3], train_subjects=[1])
    samples, bad = dm.discover()
    assert bad == [] and [s.sample_id for s in samples] == ["subject3_cam1_scene1_session1_kicking"]


def test_imu_only_data_without_videos(tmp_path: Path) -> None:
    root = tmp_path / "mmact"
    for subject in (1, 17):
        write_mmact_sample(root, subject, 1, 1, "jumping", cams=[])
    dm = mmact(root, ("imu",))
    dm.setup("fit")
    assert dm.table.ids == ["subject1_scene1_session1_jumping", "subject17_scene1_session1_jumping"]


def test_imu_only_runs_see_each_sensor_recording_once(tree: tuple[Path, dict[str, list[str]]]) -> None:
    # The tree has 9 recordings, each filmed by 2 cameras: fusion has a row per video, IMU-only per recording.
    root, _ = tree
    recordings = {
        (p.parts[-4], p.parts[-3], p.parts[-2], p.stem.lower())
        for p in (root / "Sensor_trimmed").rglob("*.csv")
    }
    assert len(recordings) == 9
    fusion = mmact(root, ("imu", "video"))
    fusion.setup("fit")
    assert len(fusion.table) == len(list((root / "Video_trimmed").rglob("*.mp4"))) == 18
    imu = mmact(root, ("imu",))
    imu.setup("fit")
    assert len(imu.table) == len(set(imu.table.ids)) == len(recordings)
    assert all("_cam" not in sample_id for sample_id in imu.table.ids)
    assert "cam" not in imu.table.groups
    assert len(torch.unique(imu.table.imu.flatten(1), dim=0)) == len(recordings)  # no duplicated IMU row
    # The same recordings, resampled alike: each IMU-only row is the IMU of that recording's fusion rows.
    for row, sample_id in enumerate(imu.table.ids):
        subject, scene_session_action = sample_id.split("_", 1)
        for cam in (1, 2):
            fused = fusion.table.ids.index(f"{subject}_cam{cam}_{scene_session_action}")
            assert torch.equal(fusion.table.imu[fused], imu.table.imu[row])
    # Cross-subject: 6 recordings of subjects 1 and 2 train, 3 of subject 17 test.
    assert (len(imu.train_set), len(imu.test_set)) == (6, 3)


def test_cross_view_refuses_imu_only_and_flags_fusion(
    tree: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    root, _ = tree
    # IMU-only: refused when the datamodule is built, whether or not the data has videos.
    with pytest.raises(HarlitError) as err:
        mmact(root, ("imu",), protocol="cross_view", test_cams=[2])
    assert str(err.value) == CROSS_VIEW_IMU_ERROR
    assert str(err.value) == (
        "an IMU-only MMAct run cannot use data.protocol=cross_view: the sensor recordings have no camera, so "
        "every test recording is also a training recording; use data.protocol=cross_subject, cross_scene or "
        "cross_session (a cross_view fusion run takes its IMU encoder from one of those through model.imu_ckpt)."
    )
    # Through the config, as a user runs it: before anything trains.
    paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}", *TINY]
    cfg = compose_config(
        ["+experiment=mmact_stage1_imu", "data.protocol=cross_view", f"data.root={root}", *paths]
    )
    with pytest.raises(HarlitError, match="IMU-only MMAct run cannot use data.protocol=cross_view"):
        train(cfg)
    assert not (tmp_path / "run" / "metrics.json").exists()
    # Stage 2 would train its IMU encoder under cross_view first: refused before any stage-1 run.
    cfg = compose_config(
        ["+experiment=mmact_stage2", "data.protocol=cross_view", f"data.root={root}", *paths]
    )
    with pytest.raises(HarlitError, match="IMU-only MMAct run cannot use data.protocol=cross_view"):
        train(cfg)
    assert not list(tmp_path.rglob("metrics.json"))
    # Fusion: allowed, and flagged, because its test IMU recordings are training recordings too.
    fusion = mmact(root, ("imu", "video"), protocol="cross_view", test_cams=[2])
    fusion.setup("fit")
    assert fusion.describe()[IMU_SEEN_KEY] is True
    table = fusion.table
    train_imu = table.imu[fusion.train_set.indices].flatten(1)
    for row in fusion.test_set.indices:
        assert (train_imu == table.imu[row].flatten()).all(dim=1).any()  # the same recording, from camera 1
    # Other protocols and video-only runs are not flagged.
    for modalities, protocol in ((("imu", "video"), "cross_subject"), (("video",), "cross_view")):
        dm = mmact(root, modalities, protocol=protocol, test_cams=[2])
        dm.setup("fit")
        assert dm.describe()[IMU_SEEN_KEY] is False
    dm = mmact(root, ("imu",), protocol="cross_session", test_sessions=[2])
    dm.setup("fit")
    assert dm.describe()[IMU_SEEN_KEY] is False


def plant_bad_mmact(root: Path) -> None:
    make_mmact_tree(root)
    write_mmact_sample(
        root, 3, 1, 1, "kicking", sensors=[s for s in SENSORS if s != "gyro"], seed=20
    )  # missing sensor
    write_mmact_sample(root, 4, 1, 1, "kicking", seed=21)
    (
        root / "Sensor_trimmed" / SENSOR_FOLDERS["acc_watch"] / "subject4/scene1/session1/kicking.csv"
    ).write_bytes(b"")
    write_mmact_sample(root, 5, 1, 1, "kicking", seed=22)
    nan_csv = root / "Sensor_trimmed" / SENSOR_FOLDERS["orientation"] / "subject5/scene1/session1/kicking.csv"
    rows = nan_csv.read_text().splitlines()
    rows[3] = rows[3].rsplit(",", 1)[0] + ",nan"
    nan_csv.write_text("\n".join(rows) + "\n")


def test_bad_samples_fail_with_one_message(tmp_path: Path) -> None:
    root = tmp_path / "mmact"
    plant_bad_mmact(root)
    with pytest.raises(HarlitError) as err:
        mmact(root).setup("fit")
    message = str(err.value)
    # Two cameras each: 2 missing sensor, 2 empty CSV, 2 NaN.
    assert message.startswith("6 bad mmact sample(s) (2 missing modality, 2 empty CSV, 2 NaN values)")
    assert "subject3/cam1/scene1/session1/kicking.mp4: missing modality: no gyro sensor CSV" in message
    assert "acc_watch_clip/subject4/scene1/session1/kicking.csv: empty CSV: 0 bytes" in message
    assert "orientation_clip/subject5/scene1/session1/kicking.csv: NaN values: 1 non-finite" in message


def test_bad_samples_skip_lists_them_with_counts(tmp_path: Path) -> None:
    root = tmp_path / "mmact"
    plant_bad_mmact(root)
    dm = mmact(root, on_bad_sample="skip", report_dir=str(tmp_path / "run"))
    dm.setup("fit")
    assert len(dm.table) == 18 and dm.dropped["bad_samples"] == 6
    text = (tmp_path / "run" / "bad_samples.txt").read_text()
    for line in (
        "# 6 bad mmact sample file(s) skipped",
        "# 2\tmissing modality",
        "# 2\tempty CSV",
        "# 2\tNaN values",
    ):
        assert line in text
    assert text.count("subject4_cam") == 2


def test_video_without_sensors_and_sensors_without_video(tmp_path: Path) -> None:
    root = tmp_path / "mmact"
    make_mmact_tree(root)
    write_mmact_sample(root, 6, 1, 1, "kicking", sensors=[])
    write_mmact_sample(root, 7, 1, 1, "kicking", cams=[])
    with pytest.raises(HarlitError) as err:
        mmact(root).setup("fit")
    message = str(err.value)
    assert "3 bad mmact sample(s) (3 missing modality)" in message
    assert "no acc_phone, acc_watch, gyro, orientation sensor CSV" in message
    assert "no video for these sensor CSVs" in message


def test_no_data(tmp_path: Path) -> None:
    (tmp_path / "mmact").mkdir()
    with pytest.raises(HarlitError) as err:
        mmact(tmp_path / "mmact").setup("fit")
    assert "found no mmact videos (.mp4) under" in str(err.value)
    assert "Video_trimmed/subjectS/camC/sceneN/sessionK/<action>.mp4" in str(err.value)


def test_real_clip_decodes_to_268_frames_of_1080p() -> None:
    requires_shared_data(MMACT_CLIP, "the real MMAct sample clip")
    import av

    frames, sizes = 0, set()
    with av.open(str(MMACT_CLIP)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames += 1
            sizes.add((frame.width, frame.height))
    assert frames == 268 and sizes == {(1920, 1080)}
    clip = decode_clip(MMACT_CLIP, ClipSettings(num_frames=8, frame_size=32))
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == np.uint8 and clip.std() > 5


def test_experiments_compose_with_the_papers_settings() -> None:
    expected = {
        "mmact_stage1_imu": (256, 5e-3, 5e-5),
        "mmact_stage1_video": (20, 1e-3, 1e-5),
        "mmact_stage2": (18, 1e-4, 1e-6),
    }
    for name, (batch, lr, wd) in expected.items():
        cfg = compose_config([f"+experiment={name}"])
        assert (cfg.data.batch_size, cfg.model.optimizer.lr, cfg.model.optimizer.weight_decay) == (
            batch,
            lr,
            wd,
        )
        assert cfg.data.root.endswith("/data/mmact") and cfg.data.imu_channels == 12
        if name == "mmact_stage1_video":
            assert cfg.model.video.pretrained == "kinetics400" and (
                cfg.data.num_frames,
                cfg.data.frame_size,
            ) == (16, 224)
    assert dict(compose_config(["+experiment=mmact_stage2"]).stage1) == {
        "imu": "mmact_stage1_imu",
        "video": "mmact_stage1_video",
    }


@pytest.mark.slow
def test_stage2_trains_its_stage1_encoders_end_to_end(
    tree: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    root, _ = tree
    quick = ["trainer.max_epochs=1", "logger=none", "trainer.enable_progress_bar=false"]
    cfg = compose_config(
        [
            "+experiment=mmact_stage2",
            f"data.root={root}",
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'runs' / 'mmact_stage2'}",
            "data.prepare_workers=1",
            *quick,
            *stage1_both([*TINY, *quick], video=["model.video.pretrained=none"]),
        ]
    )
    metrics = train(cfg)
    assert metrics["stage"] == 2 and metrics["dataset"] == "mmact" and metrics["num_test"] == 6
    for modality in ("imu", "video"):
        assert Path(metrics[f"{modality}_ckpt"]).is_file()
        assert (tmp_path / "runs" / "mmact_stage2" / f"stage1_{modality}" / "metrics.json").is_file()


@pytest.mark.slow
def test_cross_view_fusion_with_an_explicit_imu_encoder_is_flagged_in_metrics(
    tree: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    root, _ = tree
    common = [
        f"data.root={root}",
        f"paths.root_dir={tmp_path}",
        "trainer.max_epochs=1",
        "logger=none",
        "trainer.enable_progress_bar=false",
        *TINY,
    ]
    imu = train(
        compose_config(["+experiment=mmact_stage1_imu", *common, f"paths.output_dir={tmp_path / 'imu'}"])
    )
    assert imu[IMU_SEEN_KEY] is False and imu["num_train"] + imu["num_test"] == 9  # one row per recording
    metrics = train(
        compose_config(
            [
                "+experiment=mmact_stage2",
                *common,
                "data.protocol=cross_view",
                "data.test_cams=[2]",
                f"model.imu_ckpt={tmp_path / 'imu' / 'encoder.pt'}",
                stage1_overrides("video", [*TINY, "model.video.pretrained=none"]),
                f"paths.output_dir={tmp_path / 'fusion'}",
            ]
        )
    )
    written = json.loads((tmp_path / "fusion" / "metrics.json").read_text())
    assert metrics[IMU_SEEN_KEY] is True and written[IMU_SEEN_KEY] is True
    assert written["protocol"] == "cross_view" and written["num_test"] == 9  # camera 2's videos


def ratio_tree(root: Path) -> None:
    """8 training recordings per class (walking, kicking) of subjects 1-4, 2 cameras each, and a test subject."""
    for i, (subject, session) in enumerate((s, k) for s in (1, 2, 3, 4) for k in (1, 2)):
        for stem in ("walking", "kicking"):
            write_mmact_sample(root, subject, 1, session, stem, frames=4, seed=i)
    for stem in ("walking", "kicking"):
        write_mmact_sample(root, 17, 1, 1, stem, frames=4, seed=99)


def recordings_of(dm: MMActDataModule) -> set[str]:
    """The sensor recordings behind a datamodule's training rows (camera left out of the id)."""
    return {str(dm.table.units[row]) for row in dm.train_set.indices}


@pytest.mark.parametrize("seed", [0, 1])
def test_ratio_subsets_hold_the_same_recordings_for_imu_video_and_fusion(tmp_path: Path, seed: int) -> None:
    """Defect 5: IMU-only rows are recordings, video rows are cameras; each table was subsampled alone."""
    root = tmp_path / "mmact"
    ratio_tree(root)
    chosen = {}
    for modalities in (("imu",), ("video",), ("imu", "video")):
        dm = mmact(root, modalities, train_ratio=0.5, seed=seed)
        dm.setup("fit")
        chosen[modalities] = recordings_of(dm)
        rows_per_recording = 1 if modalities == ("imu",) else 2
        assert len(dm.train_set) == 8 * rows_per_recording  # half of 16 recordings, every camera of each
    assert chosen[("imu",)] == chosen[("video",)] == chosen[("imu", "video")]
    assert len(chosen[("imu",)]) == 8 and {r.rsplit("_", 1)[1] for r in chosen[("imu",)]} == {
        "walking",
        "kicking",
    }


def test_bad_samples_txt_is_written_by_rank_zero_alone_and_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 8: every rank wrote bad_samples.txt, with a plain (torn-able) write."""
    import harlit.data.base as base

    root = tmp_path / "mmact"
    plant_bad_mmact(root)
    writes = []
    monkeypatch.setattr(base, "atomic_write_text", lambda path, text: writes.append(path))
    monkeypatch.setenv("RANK", "1")  # IMU only: a video rank 1 would wait for rank 0's clip cache
    mmact(root, ("imu",), on_bad_sample="skip", report_dir=str(tmp_path / "run")).setup("fit")
    assert not writes
    monkeypatch.setenv("RANK", "0")
    mmact(root, ("imu",), on_bad_sample="skip", report_dir=str(tmp_path / "run")).setup("fit")
    assert writes == [tmp_path / "run" / "bad_samples.txt"]
