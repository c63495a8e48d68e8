"""`python -m harlit.bench`: every benchmark answers --help, the training benchmark's two measurements run
through real code and its report adds up."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from harlit.bench import cli, timeline, train_config, train_runs, what_ifs
from harlit.bench.generated import TEST_SAMPLE, TreeSpec, build_utd_tree
from harlit.bench.timing import StepTimer
from harlit.build import build_datamodule, build_model
from harlit.config import CONFIG_DIR


def test_bench_measures_pipeline_and_ceiling_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "bench.json"
    report = cli.main(
        [
            "train",
            "--device",
            "cpu",
            "--stages",
            "imu",
            "--warmup",
            "1",
            "--steps",
            "2",
            "--root",
            str(tmp_path / "runs"),
            "--out",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == report
    (result,) = report["results"]
    assert result["stage"] == "imu" and result["batch_size"] == 32
    assert result["pipeline_samples_per_s"] > 0 and result["ceiling_samples_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["pipeline_samples_per_s"] / result["ceiling_samples_per_s"]
    )
    assert report["device"] == "cpu" and report["sizes"]["steps"] == 2
    table = capsys.readouterr().out
    assert "pipeline/s" in table and "imu" in table


def test_the_pipeline_run_uses_the_training_config(tmp_path: Path) -> None:
    sizes = train_config.CPU_SIZES
    cfg = train_config.stage_config("fusion", sizes, on_gpu=False, root=tmp_path)
    assert cfg.model.modality == "fusion" and cfg.data.num_frames == sizes.num_frames
    train_samples = 12 * cfg.data.repetitions  # subject 1 of 2 trains
    assert train_samples >= sizes.batch_size * (sizes.warmup + sizes.steps)  # no epoch boundary in the timing
    gpu = train_config.stage_config("video", train_config.GPU_SIZES, on_gpu=True, root=tmp_path)
    assert gpu.trainer.precision == "bf16-mixed" and gpu.hardware.channels_last is True
    assert gpu.data.num_workers == 8 and gpu.callbacks.device_resident is not None  # the GPU fast path
    assert gpu.data.frame_size == 224 and gpu.data.num_frames == 16
    # Clip stages render a short epoch and loop over it; the IMU stage gets every step's samples.
    assert (
        12 * gpu.data.repetitions
        == train_config.GPU_SIZES.batch_size * train_config.GPU_SIZES.clip_batches_per_epoch
    )
    imu_sizes = train_config.GPU_SIZES.for_stage("imu")
    imu = train_config.stage_config("imu", imu_sizes, on_gpu=True, root=tmp_path)
    assert 12 * imu.data.repetitions >= imu_sizes.batch_size * (imu_sizes.warmup + imu_sizes.steps)


@pytest.mark.slow
def test_timed_steps_span_epoch_boundaries(tmp_path: Path) -> None:
    args = ["--device", "cpu", "--stages", "video", "--batch-size", "2", "--frames", "8", "--size", "32"]
    args += ["--warmup", "1", "--steps", "4", "--epoch-batches", "2", "--root", str(tmp_path)]
    report = cli.main(["train", *args, "--out", str(tmp_path / "bench.json")])
    assert report["sizes"]["clip_batches_per_epoch"] == 2
    assert report["results"][0]["pipeline_samples_per_s"] > 0


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(SystemExit):
        cli.main(["train", "--stages", "audio"])


def test_imu_data_can_live_on_the_device(make_cfg) -> None:
    """The GPU fast path's device-resident IMU batches, exercised with the CPU as the device."""
    import pytorch_lightning as pl

    from harlit.config import instantiate
    from harlit.fastpath import DeviceBatches, DeviceResidentData

    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "data.batch_size=5"])
    datamodule = instantiate(cfg.data, modalities=["imu"], _convert_="all")
    model = instantiate(cfg.model, num_classes=datamodule.num_classes, imu_ckpt=None, video_ckpt=None)
    resident = DeviceResidentData(accelerators=["cpu"])
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[resident],
    )
    trainer.fit(model, datamodule=datamodule)
    assert resident.active
    train = datamodule.train_dataloader()
    assert isinstance(train, DeviceBatches) and len(train) == 2  # 12 samples, batches of 5, last dropped
    reference = datamodule.test_set[3]
    first = next(iter(datamodule.test_dataloader()))
    assert int(first["label"][3]) == reference["label"] and int(first["index"][3]) == reference["index"]
    assert torch.allclose(first["imu"][3], reference["imu"])  # normalised exactly like the DataModule
    logged = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    assert 0.0 <= logged["test/top1"] <= 1.0
    assert int(model.test_details["confusion_matrix"].sum()) == 12


# --- the cache source, the profile, the loader settings ---------------------------------------------

TINY_TREE = ["--tree-actions", "1", "--tree-trials", "1", "--tree-frames", "8", "--tree-size", "64x48"]
TINY_CPU = ["--device", "cpu", "--batch-size", "2", "--warmup", "1", "--steps", "1"]


def test_the_generated_tree_has_utd_mhads_training_split() -> None:
    spec = TreeSpec()
    assert (spec.width, spec.height) == (640, 480)
    # 27 actions x subjects 1, 3, 5, 7 x 4 trials, less a8_s1_t4 (absent from UTD-MHAD itself), plus one
    # test sample: the real split has 431 training samples, 26 batches of 16 (the last one dropped).
    assert spec.train_samples == 431 and len(spec.sample_ids()) == 432
    assert (8, 1, 4) not in spec.sample_ids() and TEST_SAMPLE in spec.sample_ids()
    assert train_config.steps_per_epoch(spec.train_samples, 16) == 26
    assert train_config.steps_per_epoch(spec.train_samples, 32) == 13
    sizes = train_config.GPU_SIZES.in_whole_epochs(26)
    assert (sizes.warmup, sizes.steps) == (26, 52)  # 10 -> one epoch, 40 -> two


def test_the_cache_source_builds_the_tree_and_its_caches_through_the_datamodule(tmp_path: Path) -> None:
    spec = TreeSpec(actions=2, trials=1, frames=8, width=64, height=48)
    tree = build_utd_tree(tmp_path, spec, workers=1)
    assert len(list((tree / "RGB").glob("*_color.avi"))) == len(list((tree / "Inertial").glob("*.mat"))) == 9
    marker = (tree / "tree.json").stat().st_mtime_ns
    assert build_utd_tree(tmp_path, spec, workers=1) == tree  # generated once
    assert (tree / "tree.json").stat().st_mtime_ns == marker
    sizes = train_config.Sizes(batch_size=2, num_frames=4, frame_size=16, imu_length=32, warmup=1, steps=1)
    for fmt, suffix in (("uint8", ".npy"), ("jpeg", ".jpgs")):
        cfg = train_config.cache_stage_config("fusion", sizes, False, tmp_path, tree, fmt, {"num_workers": 1})
        assert cfg.data._target_.endswith("UTDMHADDataModule") and cfg.data.cache_format == fmt
        assert cfg.model.video.pretrained == "none" and cfg.data.num_workers == 1
        cache = train_runs.prepare_cache(cfg)
        assert cache["clips"] == 9 and cache["mb_per_clip"] > 0
        assert {p.suffix for p in Path(cache["folder"], "clips").iterdir()} == {suffix}
        datamodule = build_datamodule(cfg)
        datamodule.setup("fit")
        assert len(datamodule.train_set) == spec.train_samples == 8 and len(datamodule.test_set) == 1
        assert datamodule.train_set[0]["video"].shape == (3, 4, 16, 16)


def test_loader_variants_and_runs() -> None:
    variants = train_config.parse_variants("old,new,w12:num_workers=12:prefetch_factor=4")
    assert variants == {
        "old": {"num_workers": 4, "prefetch_factor": 2},
        "new": {},
        "w12": {"num_workers": "12", "prefetch_factor": "4"},
    }
    assert train_config.loader_overrides(variants["w12"]) == ["data.num_workers=12", "data.prefetch_factor=4"]
    for bad in ("fast", "x:threads=2", "x:what_if=magic", "x:what_if=nosync+magic", ""):
        with pytest.raises(ValueError):
            train_config.parse_variants(bad)
    assert what_ifs.what_if_flags(train_config.LOADER_PRESETS["overlap"]["what_if"]) == {"nosync", "h2d"}
    assert what_ifs.what_if_flags(None) == set()
    runs = train_config.cache_runs(
        ["video", "imu"], ["uint8", "jpeg"], train_config.parse_variants("old,new,nosync")
    )
    assert [r for r in runs if r[0] == "video"] == [
        ("video", fmt, v) for fmt in ("uint8", "jpeg") for v in ("old", "new", "nosync")
    ]
    # No loader setting reaches the IMU stage's device-resident batches: once per what-if.
    assert [r for r in runs if r[0] == "imu"] == [("imu", "-", "new"), ("imu", "-", "nosync")]
    every = train_config.parse_variants("old,new,nosync,overlap,resident")
    assert train_config.cache_runs(["imu"], ["uint8"], every) == [("imu", "-", "new"), ("imu", "-", "nosync")]
    assert train_config.cache_runs(["imu"], ["uint8"], train_config.parse_variants("new,overlap")) == [
        ("imu", "-", "new"),
        ("imu", "-", "overlap"),
    ]
    # What-ifs run on the formats asked for (the bench's default: the first one).
    runs = train_config.cache_runs(["fusion"], ["uint8", "jpeg"], every, what_if_formats=["uint8"])
    assert [(f, v) for _, f, v in runs] == [
        *(("uint8", v) for v in ("old", "new", "nosync", "overlap", "resident")),
        ("jpeg", "old"),
        ("jpeg", "new"),
    ]


def test_copy_ahead_serves_the_loaders_batches() -> None:
    """The h2d what-if's wrapper, on the CPU (where it passes batches through; the stream path needs a GPU)."""
    batches = [{"video": torch.full((2, 3), i), "label": torch.tensor([i, i])} for i in range(3)]
    wrapped = what_ifs.CopyAhead(batches, torch.device("cpu"))
    assert len(wrapped) == 3
    assert [int(b["label"][0]) for b in wrapped] == [0, 1, 2]


def test_the_cache_source_reports_both_formats(tmp_path: Path) -> None:
    out = tmp_path / "out" / "bench.json"
    args = [*TINY_CPU, "--source", "cache", "--stages", "video,imu", "--variants", "new,resident", *TINY_TREE]
    report = cli.main(["train", *args, "--root", str(tmp_path / "root"), "--out", str(out)])
    assert json.loads(out.read_text()) == report
    assert report["tree"]["train_samples"] == 4 and set(report["cache"]) == {"uint8", "jpeg"}
    rows = {(r["stage"], r["cache_format"], r["variant"]): r for r in report["results"]}
    assert set(rows) == {
        ("video", "uint8", "new"),
        ("video", "uint8", "resident"),  # what-ifs: the first format only
        ("video", "jpeg", "new"),
        ("imu", "-", "new"),
        ("imu", "-", "resident"),
    }
    for row in rows.values():
        assert row["error"] is None and row["source"] == "cache"
        assert row["pipeline_samples_per_s"] > 0 and row["ceiling_samples_per_s"] > 0
    video = rows[("video", "uint8", "new")]
    # A real epoch: 4 training clips at batch 2 are 2 steps; warm-up and timing round up to whole epochs.
    assert video["steps_per_epoch"] == 2 and video["warmup_steps"] == 2 and video["timed_steps"] == 2
    assert video["loader"]["num_workers"] == 0  # trainer=cpu
    assert video["periods"]["median_step_ms"] > 0 and video["periods"]["epoch_boundaries"] == 1


def test_resident_batches_serve_the_training_split_from_the_device(tmp_path: Path) -> None:
    """The resident what-if on the CPU: every training clip and IMU recording, sliced into batches."""
    spec = TreeSpec(actions=2, trials=1, frames=8, width=64, height=48)
    tree = build_utd_tree(tmp_path, spec, workers=1)
    sizes = train_config.Sizes(batch_size=3, num_frames=4, frame_size=16, imu_length=32, warmup=1, steps=1)
    cfg = train_config.cache_stage_config("fusion", sizes, False, tmp_path, tree, "uint8")
    datamodule = build_datamodule(cfg)
    train_runs.prepare_cache(cfg)
    datamodule.setup("fit")
    what_ifs.resident_batches(datamodule, torch.device("cpu"))
    batches = list(datamodule.train_dataloader())
    assert len(batches) == 2  # 8 samples in batches of 3, the last partial batch dropped
    first = batches[0]
    assert first["video"].shape == (3, 3, 4, 16, 16) and first["video"].dtype == torch.uint8
    row = int(first["index"][0])
    position = list(datamodule.train_set.indices).index(row)
    sample = datamodule.train_set[position]
    assert torch.equal(first["video"][0], sample["video"]) and torch.allclose(first["imu"][0], sample["imu"])
    assert int(first["label"][0]) == sample["label"]


def test_step_periods_show_the_epoch_boundary() -> None:
    timer = StepTimer(warmup=5, steps=4)
    timer.marks = [(5, 0.0), (6, 0.1), (0, 0.5), (1, 0.6), (2, 0.7)]  # (batch_idx, s): an epoch ends after 6
    assert timer.periods() == {
        "median_step_ms": 100.0,
        "epoch_boundaries": 1,
        "epoch_boundary_extra_ms": 300.0,
    }


def test_profile_writes_its_table_and_breakdown(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out" / "bench.json"
    args = ["--device", "cpu", "--stages", "imu", "--warmup", "1", "--steps", "1", "--profile", "3"]
    report = cli.main(["train", *args, "--root", str(tmp_path / "root"), "--out", str(out)])
    (profile,) = report["profiles"]
    assert profile["name"] == "synthetic_imu" and profile["steps"] == 3
    text = (out.parent / "profile_synthetic_imu.txt").read_text()
    assert "wait for the next batch (loader fetch)" in text and "backward" in text
    assert "Self CPU" in text  # the key_averages table
    host = profile["host_ms_per_step"]
    assert host["forward + loss + metrics + log (training_step)"] > 0 and host["backward"] > 0
    assert host["optimizer_step (incl. the two above)"] >= host["backward"]
    assert json.loads((out.parent / "profiles.json").read_text()) == report["profiles"]
    assert "# synthetic_imu: 3 steps" in capsys.readouterr().out  # printed too


def test_the_nosync_what_if_takes_the_step_syncs_out(make_cfg) -> None:
    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "data.batch_size=6"])
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule.num_classes)
    what_ifs.without_step_syncs(model)
    trainer = pl_trainer()
    trainer.fit(model, datamodule=datamodule)
    assert "train/loss_step" not in trainer.progress_bar_metrics  # no .item() after every step
    assert "train/loss_epoch" in trainer.callback_metrics  # still logged
    assert "train/top1" not in trainer.callback_metrics  # the training metrics were never updated


def pl_trainer():
    import pytorch_lightning as pl

    return pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def test_prefetch_factor_reaches_the_dataloader(make_cfg) -> None:
    from harlit.errors import HarlitError

    cfg = make_cfg(["data.num_workers=2", "data.prefetch_factor=3"])
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    assert loader.prefetch_factor == 3 and loader.num_workers == 2 and loader.persistent_workers
    without_workers = build_datamodule(make_cfg(["data.prefetch_factor=3"]))
    without_workers.setup("fit")
    assert without_workers.train_dataloader().prefetch_factor is None  # torch refuses it without workers
    gpu = make_cfg(["hardware=gpu"])
    assert (gpu.data.num_workers, gpu.data.prefetch_factor, gpu.data.pin_memory) == (8, 4, True)
    assert make_cfg([]).data.prefetch_factor is None  # torch's default (2) elsewhere
    with pytest.raises(HarlitError, match="prefetch_factor"):
        build_datamodule(make_cfg(["data.prefetch_factor=0"]))


def test_loader_settings_stay_out_of_the_stage1_key(make_cfg) -> None:
    from harlit.stage1 import key_of

    plain = make_cfg(["+experiment=synthetic_stage1_imu"])
    prefetching = make_cfg(["+experiment=synthetic_stage1_imu", "data.prefetch_factor=4"])
    assert key_of(plain, "imu") == key_of(prefetching, "imu")
    assert "prefetch_factor" not in key_of(plain, "imu")["config"]["data"]


def test_the_profile_breakdown_finds_where_the_gpu_waits() -> None:
    """The GPU half of the breakdown, on a made-up trace: 2 steps of 50 ms (times below in ms)."""
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    def event(name: str, start: float, end: float, device: DeviceType = DeviceType.CPU) -> SimpleNamespace:
        start, end = 1e3 * start, 1e3 * end  # the profiler's unit: us
        span = SimpleNamespace(start=start, end=end, elapsed_us=lambda: end - start)
        return SimpleNamespace(name=name, device_type=device, time_range=span)

    fetch, step = "[_TrainingEpochLoop].train_dataloader_next", "[Strategy]SingleDeviceStrategy.training_step"
    events = [
        event(fetch, 0, 10),
        event(step, 10, 30),
        event("cudaStreamSynchronize", 25, 30),
        event(fetch, 50, 60),
        event(step, 60, 80),
        event("cudaDeviceSynchronize", 98, 100),
        event("Memcpy HtoD (Pinned -> Device)", 10.5, 11.5, DeviceType.CUDA),
        *(event("kernel", a, b, DeviceType.CUDA) for a, b in ((12, 28), (32, 48), (62, 78), (82, 98))),
    ]
    averages = [
        SimpleNamespace(key=fetch, count=2, cpu_time_total=20e3, device_time_total=0.0),
        SimpleNamespace(key=step, count=2, cpu_time_total=40e3, device_time_total=32e3),
        SimpleNamespace(key="cudaStreamSynchronize", count=1, cpu_time_total=5e3, device_time_total=0.0),
    ]
    prof = SimpleNamespace(key_averages=lambda: averages, events=lambda: events)
    info = timeline.profile_breakdown(prof, steps=2, wall_s=0.1)
    assert info["window_ms_per_step"] == pytest.approx(50)
    assert info["host_ms_per_step"]["wait for the next batch (loader fetch)"] == pytest.approx(10)
    assert info["host_ms_per_step"]["forward + loss + metrics + log (training_step)"] == pytest.approx(20)
    assert info["device_ms_per_step_by_part"]["forward + loss + metrics + log (training_step)"] == 16
    assert info["host_syncs_per_step"] == 0.5 and info["host_sync_ms_per_step"] == 2.5
    # Busy 1 + 4 x 16 = 65 ms of 100: idle 35 ms, 20 of them while the host waited for the loader.
    assert info["gpu_busy_fraction"] == pytest.approx(0.65)
    assert info["gpu_idle_ms_per_step"] == pytest.approx(17.5)
    idle = info["gpu_idle_ms_per_step_while_host_in"]
    assert idle["wait for the next batch (loader fetch)"] == pytest.approx(10)
    assert idle["forward + loss + metrics + log (training_step)"] == pytest.approx(3.5)
    assert idle["host sync calls"] == pytest.approx(2)  # 2 ms in each of the two synchronisations
    assert info["h2d_copy_ms_per_step"] == pytest.approx(0.5)
    assert "GPU idle ms per step while the host was in" in timeline.format_breakdown("made-up", info)
    assert timeline.gpu_idle([(2, 3), (5, 9)], (0, 8)) == [(0, 2), (3, 5)]
    assert timeline.merge_intervals([(5, 9), (0, 2), (1, 3)]) == [(0, 3), (5, 9)]


# --- the command line: one subcommand per benchmark ---------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    ["train", "prepare", "cache", "cache epoch", "cache make-data", "cache report", "heads", "predict"],
)
def test_every_benchmark_answers_help(command: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([*command.split(), "--help"])
    assert exited.value.code == 0
    assert f"usage: python -m harlit.bench {command}" in capsys.readouterr().out


def test_the_what_ifs_say_they_await_a_gpu_measurement(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "what-ifs (awaiting a GPU measurement) nosync, overlap" in text
    for patch in (what_ifs.without_step_syncs, what_ifs.CopyAhead, what_ifs.resident_batches):
        assert "awaiting a GPU measurement" in (patch.__doc__ or "")


@pytest.mark.parametrize(
    ("argv", "spelling"),
    [
        (["--stages", "video"], "`python -m harlit.bench train --stages video`"),
        ([], "`python -m harlit.bench train`"),
    ],
)
def test_the_old_spelling_names_the_new_one(
    argv: list[str], spelling: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        line.startswith("harlit: error: python -m harlit.bench now takes the benchmark first")
        and spelling in line
    )


def test_bad_input_is_one_sentence(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["train", "--source", "cache", "--tree-size", "big"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "harlit: error: --tree-size 'big' is not WxH, e.g. 640x480." in err and "Traceback" not in err


def test_cache_format_accuracy_data_and_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    cli.main(["cache", "make-data", str(data), "--num-subjects", "2", "--repetitions", "1"])
    rows = (data / "manifest.csv").read_text().splitlines()
    assert rows[0] == "video,imu,label,subject,split,id" and len(rows) == 1 + 24  # 2 subjects x 12 classes
    assert {r.split(",")[4] for r in rows[1:]} == {"train", "test"}
    scenes = (data / "manifest_scene.csv").read_text().splitlines()
    assert {r.split(",")[2] for r in scenes[1:]} == {"window", "table", "door"}
    assert all((data / r.split(",")[0]).is_file() and (data / r.split(",")[1]).is_file() for r in rows[1:])
    runs = tmp_path / "runs"
    for name, top1 in (("uint8-0", 0.5), ("uint8-1", 0.7), ("jpeg-0", 0.6)):
        (runs / name).mkdir(parents=True)
        (runs / name / "metrics.json").write_text(json.dumps({"test/top1": top1}))
    capsys.readouterr()
    cli.main(["cache", "report", str(runs)])
    out = capsys.readouterr().out
    assert "| uint8-1 | 0.7000 |" in out
    assert "| uint8 | 2 | 0.6000 ± 0.1414 |" in out and "| jpeg | 1 | 0.6000 ± nan |" in out


def test_nothing_outside_the_tests_imports_them_or_edits_sys_path() -> None:
    sources = [*(REPO_ROOT / "harlit").rglob("*.py"), *(REPO_ROOT / "experiments").rglob("*.py")]
    offending = [
        str(path.relative_to(REPO_ROOT))
        for path in sources
        if re.search(r"^\s*(from tests\b|import tests\b)|sys\.path\.", path.read_text(), re.MULTILINE)
    ]
    assert offending == []


def test_the_encoders_benchmark_counts_and_times_every_encoder(capsys: pytest.CaptureFixture) -> None:
    figures = cli.main(["encoders", "--modality", "imu", "--steps", "1", "--rounds", "1", "--batch", "2"])
    names = sorted(p.stem for p in (CONFIG_DIR / "model" / "imu_encoder").glob("*.yaml"))
    assert sorted(figures) == names
    # The paper's CNN at 6 channels: 86,720 parameters; its FLOPs are two per multiply-add of its convolutions.
    assert figures["imu_cnn"]["params_m"] == pytest.approx(0.08672)
    macs = 6 * 32 * 24 * 73 + 32 * 64 * 16 * 58 + 64 * 96 * 8 * 51  # output lengths 96-23, 73-15, 58-7
    assert figures["imu_cnn"]["gflops"] == pytest.approx(2 * macs / 1e9, rel=1e-3)
    assert all(f["ms_per_step"] > 0 and f["out_dim"] > 0 for f in figures.values())
    out = capsys.readouterr().out
    assert "| imu_cnn | 0.09 |" in out and "step vs imu_cnn" in out
    video = cli.main(["encoders", "--only", "r3d_18", "s3d", "--steps", "1", "--rounds", "1", "--batch", "2"])
    assert video["s3d"]["gflops"] == pytest.approx(35.96, abs=0.01)  # torchvision's own figure: 17.98 GMACs
