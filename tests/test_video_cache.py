"""The decode-once video cache: settings keys, formats, atomic resumable writes, torn clips, concurrent
preparers, waiting ranks, and chosen-frame decoding against the every-frame reference."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from harlit.bench.generated import make_utd_tree, write_h264_video, write_video
from harlit.bench.reference_decode import decode_clip_every_frame
from harlit.config import compose_config
from harlit.data import video_cache
from harlit.data.clip_format import CachedClips, ClipSettings, decode_jpeg_clip, encode_jpeg_clip, read_clip
from harlit.data.mmact import MMActDataModule
from harlit.data.utd_mhad import UTDMHADDataModule
from harlit.data.video_cache import ClipRequest, VideoCache
from harlit.data.video_decode import decode_clip
from harlit.errors import HarlitError
from harlit.prepare import prepare
from tests.conftest import QUIET, run_harlit
from tests.data_fixtures import MMACT_CLIP

SETTINGS = ClipSettings(num_frames=8, frame_size=32)
JPEG = ClipSettings(num_frames=8, frame_size=32, cache_format="jpeg", quality=90)


def videos(folder: Path, count: int, frames: int = 10) -> list[ClipRequest]:
    return [
        ClipRequest(f"clip{i}", write_video(folder / f"clip{i}.avi", frames, 64, 48, seed=i))
        for i in range(count)
    ]


def test_decode_clip_shapes_and_resize_modes(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.avi", 20, 64, 48)
    squash = decode_clip(path, SETTINGS)
    crop = decode_clip(path, ClipSettings(8, 32, "crop"))
    assert squash.shape == crop.shape == (3, 8, 32, 32) and squash.dtype == np.uint8
    assert not np.array_equal(squash, crop)
    # Short clips repeat frames rather than fail.
    assert decode_clip(write_video(tmp_path / "short.avi", 3, 64, 48), SETTINGS).shape == (3, 8, 32, 32)
    with pytest.raises(HarlitError, match="video_resize"):
        ClipSettings(8, 32, "stretch")


def test_settings_key_the_cache_folder(tmp_path: Path) -> None:
    requests = videos(tmp_path / "videos", 2)
    small = VideoCache(tmp_path / "cache", "demo", SETTINGS)
    large = VideoCache(tmp_path / "cache", "demo", ClipSettings(8, 48))
    assert small.folder != large.folder
    assert small.ensure(requests, workers=1, progress=False) == {}
    assert large.ensure(requests, workers=1, progress=False) == {}
    assert small.source(requests)[0].shape == (3, 8, 32, 32)
    assert large.source(requests)[0].shape == (3, 8, 48, 48)
    # A replaced video gets a new fingerprint, so its old clip is never read.
    before = small.clip_path(requests[0])
    time.sleep(0.01)
    write_video(requests[0].path, 14, 64, 48, seed=99)
    assert small.clip_path(requests[0]) != before
    assert small.read_marker(requests) is None


def test_resume_after_a_killed_prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = videos(tmp_path / "videos", 4)
    cache = VideoCache(tmp_path / "cache", "demo", SETTINGS)
    # What a killed prepare leaves: two whole clips, a temp file, no completion marker.
    cache.clips_dir.mkdir(parents=True)
    for request in requests[:2]:
        np.save(cache.clip_path(request), decode_clip(request.path, SETTINGS))
    stale = cache.clips_dir / ".clip2.npy.abc.tmp"
    stale.write_bytes(b"half a clip")
    decoded: list[str] = []
    real = video_cache._decode_to_file
    monkeypatch.setattr(video_cache, "_decode_to_file", lambda s, *rest: decoded.append(s) or real(s, *rest))
    assert cache.ensure(requests, workers=1, progress=False) == {}
    assert sorted(Path(p).name for p in decoded) == ["clip2.avi", "clip3.avi"]
    assert not stale.exists() and cache.read_marker(requests) == {}
    assert len(list(cache.clips_dir.glob("*.npy"))) == 4
    decoded.clear()
    cache.ensure(requests, workers=1, progress=False)
    assert decoded == []  # complete: nothing decoded again


def test_undecodable_video_is_recorded_not_cached(tmp_path: Path) -> None:
    requests = videos(tmp_path / "videos", 2)
    broken = tmp_path / "videos" / "broken.avi"
    broken.write_bytes(b"\x00garbage" * 100)
    requests.append(ClipRequest("broken", broken))
    cache = VideoCache(tmp_path / "cache", "demo", SETTINGS)
    failures = cache.ensure(requests, workers=2, progress=False)
    assert list(failures) == ["broken"] and failures["broken"].startswith("undecodable video")
    assert not cache.clip_path(requests[-1]).exists()
    assert cache.read_marker(requests) == failures


def _prepare_in_process(folder: str, cache_dir: str, result: multiprocessing.Queue) -> None:
    requests = [ClipRequest(f"clip{i}", Path(folder) / f"clip{i}.avi") for i in range(6)]
    result.put(VideoCache(cache_dir, "demo", SETTINGS).ensure(requests, workers=1, progress=False))


def test_two_concurrent_preparers(tmp_path: Path) -> None:
    requests = videos(tmp_path / "videos", 6)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    procs = [
        context.Process(
            target=_prepare_in_process, args=(str(tmp_path / "videos"), str(tmp_path / "cache"), results)
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert [results.get(timeout=5), results.get(timeout=5)] == [{}, {}]
    cache = VideoCache(tmp_path / "cache", "demo", SETTINGS)
    clips = cache.source(requests)
    for i, request in enumerate(requests):
        assert torch.equal(clips[i], torch.from_numpy(decode_clip(request.path, SETTINGS)))
    assert not list(cache.clips_dir.glob(".*.tmp"))


def test_non_zero_ranks_wait_for_the_building_rank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1], subjects=[1, 2], trials=[1])
    kwargs = {
        "root": str(root),
        "modalities": ["video"],
        "num_frames": 8,
        "frame_size": 32,
        "cache_dir": str(tmp_path / "cache"),
        "prepare_workers": 1,
    }
    monkeypatch.setenv("RANK", "1")
    waiting = UTDMHADDataModule(**kwargs)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (waiting.setup("fit"), done.set()))
    thread.start()
    time.sleep(1.0)
    assert not done.is_set() and not list((tmp_path / "cache").rglob("clips/*"))  # rank 1 decodes nothing
    monkeypatch.setenv("RANK", "0")
    UTDMHADDataModule(**kwargs).prepare_data()  # what Lightning runs on rank 0
    thread.join(30)
    assert done.is_set() and isinstance(waiting.table.video, CachedClips)
    assert waiting.table.video[0].shape == (3, 8, 32, 32)
    cache = VideoCache(tmp_path / "cache", "utd_mhad", SETTINGS)
    with pytest.raises(HarlitError, match="waited 0 s for rank 0"):
        cache.wait([ClipRequest("x", root / "missing.avi")], timeout_s=0.0, poll_s=0.01)


def test_prepare_command_fills_the_cache_training_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1, 2], subjects=[1], trials=[1])
    cfg = compose_config(
        [
            "data=utd_mhad",
            f"data.root={root}",
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'run'}",
            "data.num_frames=8",
            "data.frame_size=32",
            "data.prepare_workers=2",
        ]
    )
    summary = prepare(cfg)
    assert summary["clips"] == 2 and summary["failed"] == 0
    assert "2 clips ready, 0 failed" in capsys.readouterr().out
    assert Path(summary["cache"]).parent == tmp_path / "cache" / "video"
    dm = UTDMHADDataModule(
        root=str(root), modalities=["video"], num_frames=8, frame_size=32, cache_dir=str(tmp_path / "cache")
    )
    assert dm.video_cache().folder == Path(summary["cache"])
    _, requests, failures = dm.prepare_videos(progress=False)
    assert failures == {} and dm.video_cache().read_marker(requests) == {}


# --- cache formats ------------------------------------------------------------------------------------


def test_uint8_key_and_folder_are_unchanged() -> None:
    # The key and digest uint8 caches had before the JPEG format existed: their folders stay valid.
    assert SETTINGS.key() == {"num_frames": 8, "frame_size": 32, "resize": "squash", "format": 1}
    assert SETTINGS.digest() == "27b762fe42a6"
    assert ClipSettings(16, 224, "crop").digest() == "acc1a280df07"


def test_cache_format_and_quality_key_the_folder(tmp_path: Path) -> None:
    requests = videos(tmp_path / "videos", 2, frames=12)
    caches = {
        name: VideoCache(tmp_path / "cache", "demo", settings)
        for name, settings in {
            "uint8": SETTINGS,
            "jpeg90": JPEG,
            "jpeg75": ClipSettings(8, 32, cache_format="jpeg", quality=75),
        }.items()
    }
    assert len({c.folder for c in caches.values()}) == 3
    assert caches["jpeg90"].settings.key()["quality"] == 90
    for cache in caches.values():
        assert cache.ensure(requests, workers=1, progress=False) == {}
    assert caches["uint8"].clip_path(requests[0]).suffix == ".npy"
    assert caches["jpeg90"].clip_path(requests[0]).suffix == ".jpgs"
    exact = caches["uint8"].source(requests)[1]
    for name in ("jpeg90", "jpeg75"):
        clip = caches[name].source(requests)[1]
        assert clip.shape == exact.shape and clip.dtype == torch.uint8
        assert (clip.float() - exact.float()).abs().mean() < 6  # lossy, but the same frames
        size = caches[name].clip_path(requests[1]).stat().st_size
        assert size < caches["uint8"].clip_path(requests[1]).stat().st_size
    with pytest.raises(HarlitError, match="data.cache_format"):
        ClipSettings(8, 32, cache_format="png")
    with pytest.raises(HarlitError, match="data.cache_quality"):
        ClipSettings(8, 32, cache_format="jpeg", quality=0)


def test_jpeg_clip_round_trip() -> None:
    rng = np.random.default_rng(0)
    # Smooth frames (JPEG's case) of a non-square size, each frame different.
    ramp = np.linspace(0, 200, 40, dtype=np.float64)[None, None, None, :]
    clip = (ramp + 5 * np.arange(6)[None, :, None, None] + rng.normal(0, 2, (3, 6, 24, 40))).clip(0, 255)
    clip = clip.astype(np.uint8)
    data = encode_jpeg_clip(clip, quality=95)
    decoded = decode_jpeg_clip(data)
    assert decoded.shape == (3, 6, 24, 40) and decoded.dtype == torch.uint8
    assert (decoded.float() - torch.from_numpy(clip).float()).abs().mean() < 3
    assert torch.equal(decode_jpeg_clip(data), decoded)  # deterministic


def test_datamodule_reads_the_configured_format(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1, 2], subjects=[1, 2], trials=[1])
    kwargs = {"root": str(root), "modalities": ["video"], "num_frames": 8, "frame_size": 32}
    kwargs |= {"cache_dir": str(tmp_path / "cache"), "prepare_workers": 1}
    clips = {}
    for fmt in ("uint8", "jpeg"):
        dm = UTDMHADDataModule(cache_format=fmt, **kwargs)
        dm.setup("fit")
        assert isinstance(dm.table.video, CachedClips)
        assert all(Path(p).suffix == {"uint8": ".npy", "jpeg": ".jpgs"}[fmt] for p in dm.table.video.paths)
        clips[fmt] = dm.table.video[0]
    assert clips["jpeg"].shape == clips["uint8"].shape == (3, 8, 32, 32)
    assert (clips["jpeg"].float() - clips["uint8"].float()).abs().mean() < 6


# --- torn or corrupt cached clips -----------------------------------------------------------------------


@pytest.mark.parametrize("settings", [SETTINGS, JPEG], ids=["uint8", "jpeg"])
def test_torn_cached_clip_is_an_error_then_rebuilt(tmp_path: Path, settings: ClipSettings) -> None:
    requests = videos(tmp_path / "videos", 2)
    cache = VideoCache(tmp_path / "cache", "demo", settings)
    cache.ensure(requests, workers=1, progress=False)
    path = cache.clip_path(requests[0])
    good = read_clip(path)
    whole = path.read_bytes()
    for torn in (whole[: len(whole) // 2], whole[:-1], whole[:10], b""):
        path.write_bytes(torn)
        with pytest.raises(HarlitError, match=rf"cached clip {path}.*delete it.*harlit.prepare"):
            cache.source(requests)[0]
        # The completion marker notwithstanding, set-up finds the torn clip and decodes it again.
        assert cache.ensure(requests, workers=1, progress=False) == {}
        assert torch.equal(read_clip(path), good)
    path.unlink()  # what the error says to do for corruption that keeps the size
    assert cache.ensure(requests, workers=1, progress=False) == {}
    assert torch.equal(read_clip(path), good)


def test_a_clip_torn_after_the_cache_was_completed_is_rebuilt_at_set_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1, 2], subjects=[1, 2], trials=[1])
    kwargs = {"root": str(root), "modalities": ["video"], "num_frames": 8, "frame_size": 32}
    kwargs |= {"cache_dir": str(tmp_path / "cache"), "prepare_workers": 1}
    first = UTDMHADDataModule(**kwargs)
    first.setup("fit")
    clip = Path(first.table.video.paths[0])
    whole = clip.read_bytes()
    clip.write_bytes(whole[: len(whole) // 3])  # a clip torn after the cache was completed
    decoded: list[str] = []
    real = video_cache._decode_to_file

    def counting(source: str, *args):
        decoded.append(Path(source).name)
        return real(source, *args)

    with caplog.at_level(logging.WARNING), pytest.MonkeyPatch.context() as patch:
        patch.setattr(video_cache, "_decode_to_file", counting)
        second = UTDMHADDataModule(**kwargs)
        second.setup("fit")
    assert len(decoded) == 1 and clip.read_bytes() == whole  # that clip alone, decoded again
    assert f"{clip}: cached clip is truncated or unreadable" in caplog.text
    assert torch.equal(second.table.video[0], first.table.video[0])


def test_corrupt_bytes_in_a_jpeg_clip_are_an_error(tmp_path: Path) -> None:
    requests = videos(tmp_path / "videos", 1)
    cache = VideoCache(tmp_path / "cache", "demo", JPEG)
    cache.ensure(requests, workers=1, progress=False)
    path = cache.clip_path(requests[0])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte in a frame
    path.write_bytes(bytes(data))
    with pytest.raises(HarlitError, match="checksum mismatch"):
        read_clip(path)
    data[:8] = b"NOTJPEGS"
    path.write_bytes(bytes(data))
    with pytest.raises(HarlitError, match="bad magic"):
        read_clip(path)


def test_an_error_in_a_loader_worker_is_the_one_sentence_of_a_run_without_workers(tmp_path: Path) -> None:
    root = tmp_path / "utd"
    make_utd_tree(root, actions=[1, 2], subjects=[1, 2], trials=[1])
    args = [
        "+experiment=utd_stage1_video",
        f"data.root={root}",
        "data.num_frames=8",
        "data.frame_size=32",
        "data.prepare_workers=1",
        "data.cache_format=jpeg",
        "data.batch_size=2",
        "model.video.pretrained=none",
        "trainer=cpu",
        "trainer.max_epochs=1",
        *QUIET,
    ]
    dm = UTDMHADDataModule(
        root=str(root), modalities=["video"], num_frames=8, frame_size=32, cache_format="jpeg"
    )
    dm.cache_dir = tmp_path / "cache"  # where the run's paths.cache_dir puts it
    dm.prepare_data()
    clip = next(dm.video_cache().clips_dir.glob("a1_s1_t1-*.jpgs"))  # a training clip
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: set-up cannot see it, the worker that reads it does
    clip.write_bytes(bytes(data))
    with pytest.raises(HarlitError) as without_workers:
        read_clip(clip)

    result = run_harlit([*args, "data.num_workers=2", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("harlit: error:")]
    assert errors == [f"harlit: error: {without_workers.value}"]
    assert "checksum mismatch" in errors[0] and "Traceback" not in result.stderr + result.stdout
    assert "DataLoader worker" not in result.stderr


def test_corrupt_npy_header_is_an_error(tmp_path: Path) -> None:
    requests = videos(tmp_path / "videos", 1)
    cache = VideoCache(tmp_path / "cache", "demo", SETTINGS)
    cache.ensure(requests, workers=1, progress=False)
    path = cache.clip_path(requests[0])
    data = bytearray(path.read_bytes())
    data[1:6] = b"XXXXX"
    path.write_bytes(bytes(data))
    with pytest.raises(HarlitError, match="unreadable"):
        read_clip(path)
    # A .npy of another dtype (not a clip this cache writes) is refused too.
    np.save(path, np.zeros((3, 8, 32, 32), dtype=np.float32))
    with pytest.raises(HarlitError, match="not a \\(3, T, H, W\\) uint8 clip"):
        read_clip(path)


# --- chosen-frame decoding --------------------------------------------------------------------------------


def h264_or_skip(path: Path, frames: int, faststart: bool = False) -> Path:
    try:
        return write_h264_video(path, frames, 96, 64, faststart=faststart)
    except (av.FFmpegError, ValueError) as err:  # a PyAV build without libx264
        pytest.skip(f"no H.264 encoder: {err}")


@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_chosen_frame_decoding_equals_every_frame_decoding(tmp_path: Path, resize: str) -> None:
    clips = [
        write_video(tmp_path / "mpeg4.avi", 23, 64, 48),
        write_video(tmp_path / "short.avi", 5, 64, 48),  # fewer frames than chosen: repeats
        h264_or_skip(tmp_path / "bframes.mkv", 41),  # B-frames: decode order != display order
        h264_or_skip(tmp_path / "bframes.mp4", 30),
    ]
    for clip in clips:
        for settings in (ClipSettings(8, 32, resize), ClipSettings(16, 40, resize)):
            expected = decode_clip_every_frame(clip, settings)
            assert np.array_equal(decode_clip(clip, settings), expected), (clip.name, settings)
            assert np.array_equal(decode_clip(clip, settings, threads=1), expected), (clip.name, settings)


def test_chosen_frames_of_a_truncated_video_equal_every_frame_decoding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The last packets of a cut mp4 are incomplete: fewer frames decode than there are packets, so the
    # frames are chosen again from those that decoded, as the every-frame decoder does.
    whole = h264_or_skip(tmp_path / "whole.mp4", 40, faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: int(len(whole) * 0.7)])
    expected = decode_clip_every_frame(cut, SETTINGS, threads=1)
    with caplog.at_level(logging.WARNING, logger="harlit.data.video_cache"):
        assert np.array_equal(decode_clip(cut, SETTINGS, threads=1), expected)
    assert "video packets but" in caplog.text and "choosing frames from" in caplog.text


@pytest.mark.skipif(not MMACT_CLIP.is_file(), reason="the real MMAct sample clip is not available")
def test_chosen_frames_equal_every_frame_decoding_on_the_real_clip() -> None:
    settings = ClipSettings(16, 32)  # small frames keep the every-frame reference fast
    assert np.array_equal(decode_clip(MMACT_CLIP, settings), decode_clip_every_frame(MMACT_CLIP, settings))


def test_configs_choose_the_cache_format_per_dataset(tmp_path: Path) -> None:
    # MMAct and manifests default to JPEG (an MMAct uint8 cache is 88 GB); UTD-MHAD keeps lossless uint8.
    expected = {"mmact": "jpeg", "manifest": "jpeg", "utd_mhad": "uint8"}
    for dataset, fmt in expected.items():
        cfg = compose_config([f"data={dataset}", f"paths.root_dir={tmp_path}"])
        assert (cfg.data.cache_format, cfg.data.cache_quality) == (fmt, 90)
    cfg = compose_config(
        ["data=mmact", f"paths.root_dir={tmp_path}", "data.cache_format=jpeg", "data.cache_quality=80"]
    )
    dm = MMActDataModule(root=str(tmp_path), cache_format=cfg.data.cache_format, cache_quality=80)
    assert dm.clip_settings.cache_format == "jpeg" and dm.clip_settings.quality == 80
    assert dm.video_cache().folder.name.startswith("mmact-")
