"""`python -m harlit.bench`: both measurements run through real code and the report adds up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harlit import bench


def test_bench_measures_pipeline_and_ceiling_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "bench.json"
    report = bench.main(
        [
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
    sizes = bench.CPU_SIZES
    cfg = bench.stage_config("fusion", sizes, on_gpu=False, root=tmp_path)
    assert cfg.model.modality == "fusion" and cfg.data.num_frames == sizes.num_frames
    train_samples = 12 * cfg.data.repetitions  # subject 1 of 2 trains
    assert train_samples >= sizes.batch_size * (sizes.warmup + sizes.steps)  # no epoch boundary in the timing
    gpu = bench.stage_config("video", bench.GPU_SIZES, on_gpu=True, root=tmp_path)
    assert gpu.trainer.precision == "bf16-mixed" and gpu.model.video.channels_last is True
    assert gpu.data.frame_size == 224 and gpu.data.num_frames == 16
    # Clip stages render a short epoch and loop over it; the IMU stage gets every step's samples.
    assert 12 * gpu.data.repetitions == bench.GPU_SIZES.batch_size * bench.GPU_SIZES.clip_batches_per_epoch
    imu_sizes = bench.GPU_SIZES.for_stage("imu")
    imu = bench.stage_config("imu", imu_sizes, on_gpu=True, root=tmp_path)
    assert 12 * imu.data.repetitions >= imu_sizes.batch_size * (imu_sizes.warmup + imu_sizes.steps)


@pytest.mark.slow
def test_timed_steps_span_epoch_boundaries(tmp_path: Path) -> None:
    args = ["--device", "cpu", "--stages", "video", "--batch-size", "2", "--frames", "8", "--size", "32"]
    args += ["--warmup", "1", "--steps", "4", "--epoch-batches", "2", "--root", str(tmp_path)]
    report = bench.main([*args, "--out", str(tmp_path / "bench.json")])
    assert report["sizes"]["clip_batches_per_epoch"] == 2
    assert report["results"][0]["pipeline_samples_per_s"] > 0


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--stages", "audio"])


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
