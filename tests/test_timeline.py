"""Timelines of untrimmed recordings: `python -m harlit.predict ... stride=1s` (harlit.timeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import torch

from harlit.bench.generated import (
    SENSOR_FOLDERS,
    encode_video,
    make_mmact_tree,
    make_utd_tree,
    write_clip_video,
)
from harlit.build import build_datamodule, build_model
from harlit.config import compose_config
from harlit.data import preprocess
from harlit.data.synthetic import CLASS_NAMES, IMU_RATE_HZ, SCENES, subject_style, synth_clip, synth_imu
from harlit.data.utd_mhad import UTDMHADDataModule
from harlit.errors import HarlitError
from harlit.predict import predict
from harlit.timeline import VideoStream, parse_duration, plan_windows
from harlit.train import train
from harlit.trained import load_model, save_model_file
from tests.conftest import QUIET, TINY
from tests.data_fixtures import TINY_LOADER
from tests.test_use_trained import predict_cfg, read_rows

SEGMENT_CLASSES = ("wave_window", "shake_table", "wipe_door")  # three different motions, in this order
SUBJECT = 2  # a test subject of the runs below


def generated_sample(name: str, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """IMU (time, 6) at 50 Hz and frames (time, 64, 64, 3) at 15 fps of the first repetition of class `name` by
    SUBJECT with at least `min_length` IMU samples, drawn as the dataset draws them (the clip from the same
    random stream), both cut to the same whole number of 10 samples = 3 frames."""
    cls = CLASS_NAMES.index(name)
    style = subject_style(0, SUBJECT)
    for rep in range(100):
        rng = np.random.default_rng([0, SUBJECT, cls, rep])
        imu = synth_imu(cls // len(SCENES), style, rng)
        if len(imu) >= min_length:
            n = len(imu) // 10 * 10
            frames = synth_clip(cls % len(SCENES), style, rng, n * 3 // 10, 64)
            return imu[:n], frames.transpose(1, 2, 3, 0)
    raise AssertionError(f"no repetition of {name} has {min_length} samples")


def write_imu_csv(path: Path, values: np.ndarray, rate: float | None) -> Path:
    """A CSV with a header; with a `rate`, its first column is `time` in seconds."""
    names = [f"c{i}" for i in range(values.shape[1])]
    if rate is not None:
        values, names = np.column_stack([np.arange(len(values)) / rate, values]), ["time", *names]
    np.savetxt(path, values, delimiter=",", header=",".join(names), comments="")
    return path


@pytest.fixture(scope="module")
def imu_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An IMU model trained well enough on synthetic data to tell the four motions apart."""
    root = tmp_path_factory.mktemp("imu_run")
    overrides = ["+experiment=synthetic_stage1_imu", "data.num_subjects=4", "data.repetitions=2"]
    overrides += ["data.imu_length=64", "trainer.max_epochs=15", *QUIET]
    train(compose_config([*overrides, f"paths.root_dir={root}", f"paths.output_dir={root / 'run'}"]))
    return root / "run"


@pytest.fixture(scope="module")
def random_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Untrained model files (tiny synthetic settings, the real preprocessing record) per modality."""
    models = {}
    for modality, experiment in (("imu", "stage1_imu"), ("video", "stage1_video"), ("fusion", "stage2")):
        folder = tmp_path_factory.mktemp(modality)
        cfg = compose_config(
            [
                f"+experiment=synthetic_{experiment}",
                *TINY,
                f"paths.root_dir={folder}",
                f"paths.output_dir={folder}",
            ]
        )
        datamodule = build_datamodule(cfg)
        datamodule.setup("fit")
        torch.manual_seed(0)
        classifier = build_model(cfg, datamodule.num_classes, datamodule.class_names)
        classifier.preprocessing = preprocess.record_of(datamodule)
        save_model_file(folder / "model.pt", classifier, cfg)
        models[modality] = folder / "model.pt"
    return models


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three 3 s samples (150 IMU samples at 50 Hz, 45 frames at 15 fps), alone and concatenated.

    Videos are lossless (FFV1), so a clip decodes to the same pixels alone and inside the long video.
    """
    folder = tmp_path_factory.mktemp("recording")
    imus, clips, out = [], [], {"imu": [], "video": []}
    for i, name in enumerate(SEGMENT_CLASSES):
        imu, frames = generated_sample(name, 150)
        imus.append(imu[:150])
        clips.append(frames[:45])
        np.save(folder / f"part{i}.npy", imus[-1])
        out["imu"].append(folder / f"part{i}.npy")
        out["video"].append(encode_video(folder / f"part{i}.mkv", clips[-1], 64, 64, codec="ffv1"))
    out["long_imu"] = write_imu_csv(folder / "long.csv", np.concatenate(imus), IMU_RATE_HZ)
    out["long_video"] = encode_video(folder / "long.mkv", np.concatenate(clips), 64, 64, codec="ffv1")
    out["frames"] = np.concatenate(clips)  # (135, 64, 64, 3)
    return out


# --- the timeline follows the activities -------------------------------------------------------------------
def test_the_timeline_follows_three_concatenated_samples_in_order(imu_run, tmp_path, capsys) -> None:
    """Three generated samples of known classes, back to back, as one IMU recording (its rate in a time
    column). IMU carries the motion only (harlit.data.synthetic), so the windows' top-1 motions must run
    through the three samples' motions in order. The window is the model's own default."""
    parts = [generated_sample(name, 180)[0] for name in SEGMENT_CLASSES]  # each longer than the window
    long = write_imu_csv(tmp_path / "long.csv", np.concatenate(parts), IMU_RATE_HZ)
    assert predict(predict_cfg(tmp_path, imu_run, f"imu={long}", "stride=0.5s")) == 0
    rows = read_rows(tmp_path / "pred" / "timeline.csv")
    window = float(torch.load(imu_run / "model.pt", weights_only=True)["preprocessing"]["clip_seconds"])
    assert float(rows[0]["end_s"]) - float(rows[0]["start_s"]) == pytest.approx(window, abs=1e-3)
    motions = [r["top1_class"].split("_")[0] for r in rows]
    runs = [m for i, m in enumerate(motions) if i == 0 or m != motions[i - 1]]
    assert runs == [name.split("_")[0] for name in SEGMENT_CLASSES]
    # Every window wholly inside one sample names that sample's motion.
    bounds = np.cumsum([0] + [len(p) for p in parts]) / IMU_RATE_HZ
    inside = 0
    for row, motion in zip(rows, motions, strict=True):
        start, end = float(row["start_s"]), float(row["end_s"])
        for i, name in enumerate(SEGMENT_CLASSES):
            if bounds[i] <= start and end <= bounds[i + 1]:
                assert motion == name.split("_")[0], (start, end)
                inside += 1
    assert inside >= 3
    assert float(rows[-1]["end_s"]) == pytest.approx(bounds[-1], abs=1e-3)  # the tail is in a window
    assert (tmp_path / "pred" / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "timeline: " in capsys.readouterr().out


@pytest.mark.slow
def test_a_fusion_timeline_follows_three_classes_that_differ_in_one_modality_each(tmp_path) -> None:
    """The issue's test with whole classes: a trained fusion model (the synthetic stage-2 experiment), and a
    recording whose scene changes first, then its motion, so that neither modality alone could follow it."""
    names = ("wave_window", "wave_door", "circle_door")
    run = tmp_path / "fusion"
    train(
        compose_config(
            ["+experiment=synthetic_stage2", *QUIET, f"paths.root_dir={tmp_path}", f"paths.output_dir={run}"]
        )
    )
    parts = [generated_sample(name, 180) for name in names]
    imu = write_imu_csv(tmp_path / "long.csv", np.concatenate([p[0] for p in parts]), IMU_RATE_HZ)
    video = write_clip_video(
        tmp_path / "long.mp4", np.concatenate([p[1] for p in parts]).transpose(3, 0, 1, 2)
    )
    assert predict(predict_cfg(tmp_path, run, f"video={video}", f"imu={imu}", "stride=0.5s")) == 0
    bounds = np.cumsum([0] + [len(p[0]) for p in parts]) / IMU_RATE_HZ
    inside = []  # the top-1 of each window wholly inside one sample, and that sample's class
    for row in read_rows(tmp_path / "pred" / "timeline.csv"):
        start, end = float(row["start_s"]), float(row["end_s"])
        inside += [
            (row["top1_class"], n) for i, n in enumerate(names) if bounds[i] <= start and end <= bounds[i + 1]
        ]
    assert [top for top, _ in inside] == [name for _, name in inside]
    assert sorted({name for _, name in inside}, key=names.index) == list(names)


@pytest.mark.parametrize("modality", ["fusion", "imu", "video"])
def test_a_window_over_one_sample_is_that_sample_predicted_alone(
    random_models, recording, tmp_path, modality
) -> None:
    """Video cut by its timestamps, IMU by its rate, each window prepared as one training clip: a window
    that spans exactly one of the concatenated samples gives that sample's own prediction."""
    model = load_model(random_models[modality])
    given = {"imu": recording["long_imu"], "video": recording["long_video"]}
    streams = [m for m in ("imu", "video") if m in model.modalities]
    overrides = [f"{m}={given[m]}" for m in streams]
    assert predict(predict_cfg(tmp_path, random_models[modality], *overrides, "window=3s", "stride=3s")) == 0
    rows = read_rows(tmp_path / "pred" / "timeline.csv")
    assert [(r["start_s"], r["end_s"]) for r in rows] == [
        ("0.000", "3.000"),
        ("3.000", "6.000"),
        ("6.000", "9.000"),
    ]
    if "video" in streams:  # the very frames of each sample's own clip
        video = VideoStream(recording["long_video"], model.preprocessing)
        windows = [(3.0 * i, 3.0 * i + 3.0) for i in range(3)]
        for part, clip in zip(recording["video"], video.clips(windows), strict=True):
            assert torch.equal(clip, preprocess.prepare_video(part, model.preprocessing))
    for i, row in enumerate(rows):
        alone = model.top_k(model.predict(**{m: recording[m][i] for m in streams}), 5)
        assert [row[f"top{r}_class"] for r in range(1, 6)] == [name for name, _ in alone]
        assert [float(row[f"top{r}_prob"]) for r in range(1, 6)] == pytest.approx(
            [p for _, p in alone], abs=2e-6
        )


def test_overlapping_windows_decode_in_one_pass_as_each_window_alone(
    random_models, recording, tmp_path
) -> None:
    record = load_model(random_models["video"]).preprocessing
    windows = [
        (start, start + 3.0) for start in np.arange(0.0, 6.5, 1.0)
    ]  # 3 s every 1 s: frames 15 k to 15 k + 44
    clips = list(VideoStream(recording["long_video"], record).clips(windows))
    assert len(clips) == len(windows)
    for k, clip in enumerate(clips):
        alone = encode_video(
            tmp_path / f"w{k}.mkv", recording["frames"][15 * k : 15 * k + 45], 64, 64, codec="ffv1"
        )
        assert torch.equal(clip, preprocess.prepare_video(alone, record)), k


def test_long_recordings_show_progress_and_the_tail_is_covered(
    random_models, recording, tmp_path, capsys
) -> None:
    out = tmp_path / "t" / "long_timeline.csv"
    args = [f"imu={recording['imu'][0]}", "imu_rate=50", "window=1s", "stride=0.8s", f"out={out}"]
    assert predict(predict_cfg(tmp_path, random_models["imu"], *args)) == 0
    printed = capsys.readouterr()
    assert "timeline: 100%" in printed.err  # the progress bar
    # 3 s in 1 s windows every 0.8 s: 0-1, 0.8-1.8, 1.6-2.6, and one more window ending at 3 s.
    rows = read_rows(out)
    assert [(r["start_s"], r["end_s"]) for r in rows][-2:] == [("1.600", "2.600"), ("2.000", "3.000")]
    assert "note: the last 0.40 s" in printed.out and "ending at the recording's end" in printed.out
    assert out.with_suffix(".png").is_file()


# --- the default window: the training clips' median duration in model.pt ------------------------------------
def test_model_files_record_the_median_training_clip_duration(imu_run) -> None:
    record = torch.load(imu_run / "model.pt", weights_only=True)["preprocessing"]
    lengths = [
        len(synth_imu(cls // len(SCENES), subject_style(0, s), np.random.default_rng([0, s, cls, rep])))
        for s in (1, 3)  # the training subjects of 4
        for cls in range(len(CLASS_NAMES))
        for rep in range(2)
    ]
    assert record["clip_seconds"] == pytest.approx(np.median(lengths) / IMU_RATE_HZ)
    assert record["imu"]["rate_hz"] == IMU_RATE_HZ


def test_file_datasets_know_durations_from_the_imu_rate_or_the_video_header(tmp_path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, frames=12)  # 12 frames at 15 fps: 0.8 s videos
    settings = {"imu_channels": 6, "imu_length": 64, "num_frames": 8, "frame_size": 32, **TINY_LOADER}

    def utd(modalities: tuple[str, ...]) -> UTDMHADDataModule:
        dm = UTDMHADDataModule(
            root=str(root), modalities=modalities, cache_dir=str(tmp_path / "c"), **settings
        )
        dm.setup("fit")
        return dm

    imu = utd(("imu",))
    lengths = [
        len(scipy.io.loadmat(root / "Inertial" / f"{i}_inertial.mat")["d_iner"]) for i in imu.table.ids
    ]
    np.testing.assert_allclose(imu.table.durations, np.asarray(lengths) / 50.0)
    train_lengths = [n for n, s in zip(lengths, imu.table.subjects, strict=True) if s == 1]
    assert imu.clip_seconds() == pytest.approx(np.median(train_lengths) / 50.0)
    video = utd(("video",))
    np.testing.assert_allclose(video.table.durations, 0.8)
    assert preprocess.record_of(video)["clip_seconds"] == pytest.approx(0.8)


# --- one sentence for each thing to set -------------------------------------------------------------------
def test_streams_of_different_lengths_are_one_sentence(random_models, recording, tmp_path) -> None:
    short = write_imu_csv(tmp_path / "short.csv", np.load(recording["imu"][0]), IMU_RATE_HZ)  # 3 s of 9
    cfg = predict_cfg(
        tmp_path, random_models["fusion"], f"video={recording['long_video']}", f"imu={short}", "stride=1s"
    )
    with pytest.raises(
        HarlitError, match=r"lasts 9.00 s but the IMU recording .* lasts 3.00 s .* set imu_rate=16.67"
    ):
        predict(cfg)


def test_an_imu_file_without_a_rate_is_one_sentence(random_models, recording, tmp_path) -> None:
    bare = write_imu_csv(tmp_path / "bare.csv", np.load(recording["imu"][0]), rate=None)
    for path in (bare, recording["imu"][0]):  # a CSV without a time column, a .npy
        with pytest.raises(
            HarlitError, match=r"does not say its sample rate .* set imu_rate= to its samples per second"
        ):
            predict(predict_cfg(tmp_path, random_models["imu"], f"imu={path}", "stride=1s"))
    assert (
        predict(predict_cfg(tmp_path, random_models["imu"], f"imu={bare}", "stride=1s", "imu_rate=50")) == 0
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["stride=1s", "window=20s"],
            r"window=20s is longer than the recording \(9.00 s\); set window= to at most 9s",
        ),
        (
            ["stride=4s", "window=3s"],
            r"stride=4s is longer than the 3 s window.* set stride= to at most the window",
        ),
        (
            ["stride=0.1s", "window=0.5s"],
            r"25 IMU samples at 50 Hz, fewer than the IMU encoder's receptive field",
        ),
        (["window=3s"], r"window= is a timeline setting; add stride="),
        (["stride=fast"], r"stride=fast is not a duration; write it like stride=1s"),
        (["stride=1s", f"video={Path('long.mkv')}"], r"this model uses imu only; leave out video="),
    ],
)
def test_timeline_settings_that_cannot_work_are_one_sentence(
    random_models, recording, tmp_path, overrides, message
) -> None:
    cfg = predict_cfg(tmp_path, random_models["imu"], f"imu={recording['long_imu']}", *overrides)
    with pytest.raises(HarlitError, match=message):
        predict(cfg)


def test_a_model_without_a_recorded_duration_asks_for_a_window(random_models, recording, tmp_path) -> None:
    payload = torch.load(random_models["imu"], weights_only=True)
    payload["preprocessing"]["clip_seconds"] = None  # data without a known rate, or an older model file
    torch.save(payload, tmp_path / "model.pt")
    cfg = predict_cfg(tmp_path, tmp_path / "model.pt", f"imu={recording['long_imu']}", "stride=1s")
    with pytest.raises(
        HarlitError, match=r"records no duration of its training clips .* set window=, e.g. window=3s"
    ):
        predict(cfg)


# --- pieces -----------------------------------------------------------------------------------------------
def test_durations_parse_from_seconds_and_milliseconds() -> None:
    assert [parse_duration(v, "stride") for v in ("1s", "500ms", "2.5", 2, 0.25, " 1.5 s")] == [
        1,
        0.5,
        2.5,
        2,
        0.25,
        1.5,
    ]
    for bad in ("1 min", "-1s", "0", "s", ""):
        with pytest.raises(HarlitError, match="stride="):
            parse_duration(bad, "stride")


def test_windows_cover_the_recording_and_say_what_the_tail_is() -> None:
    assert plan_windows(9.0, 3.0, 3.0) == ([(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)], 0.0)
    windows, tail = plan_windows(10.0, 3.0, 2.0)
    assert windows == [(0.0, 3.0), (2.0, 5.0), (4.0, 7.0), (6.0, 9.0), (7.0, 10.0)] and tail == pytest.approx(
        1.0
    )
    assert plan_windows(3.0, 3.0, 1.0) == ([(0.0, 3.0)], 0.0)


def test_an_mmact_recording_is_cut_at_the_models_sensor_rate(tmp_path) -> None:
    """An MMAct recording given as its four sensor CSVs (imu=[...]) or their folder: fused at the model's sensor
    rate as in training, so a window over the whole recording is the recording predicted alone."""
    root = tmp_path / "mmact"
    make_mmact_tree(root)
    run = tmp_path / "run"
    tiny = ["data.imu_length=64", "data.batch_size=4", "trainer.max_epochs=1", *QUIET]
    train(
        compose_config(
            [
                "+experiment=mmact_stage1_imu",
                f"data.root={root}",
                *tiny,
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={run}",
            ]
        )
    )
    model = load_model(run)
    assert model.preprocessing["imu"]["rate_hz"] == model.sensor_rate == 50.0
    recording = Path("subject17") / "scene1" / "session1" / "walking.csv"
    files = [root / "Sensor_trimmed" / folder / recording for folder in SENSOR_FOLDERS.values()]
    whole = len(preprocess.read_imu_recording(files, model.sensor_rate)) / model.sensor_rate
    listed = ",".join(str(p) for p in files)
    window = [f"window={whole}", f"stride={whole}"]
    assert predict(predict_cfg(tmp_path, run, f"imu=[{listed}]", *window)) == 0
    (row,) = read_rows(tmp_path / "pred" / "timeline.csv")
    alone = model.top_k(model.predict(imu=files), 5)
    assert [row[f"top{r}_class"] for r in range(1, 6)] == [name for name, _ in alone]
    assert [float(row[f"top{r}_prob"]) for r in range(1, 6)] == pytest.approx([p for _, p in alone], abs=2e-6)
    with pytest.raises(HarlitError, match="imu_rate= does not apply to an MMAct recording"):
        predict(predict_cfg(tmp_path, run, f"imu=[{listed}]", *window, "imu_rate=50"))
