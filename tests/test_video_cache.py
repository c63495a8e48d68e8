"""The decode-once video cache: settings keys, atomic resumable writes, concurrent preparers, waiting ranks."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from harlit.config import compose_config
from harlit.data import video_cache
from harlit.data.utd_mhad import UTDMHADDataModule
from harlit.data.video_cache import CachedClips, ClipRequest, ClipSettings, VideoCache, decode_clip
from harlit.errors import HarlitError
from harlit.prepare import prepare
from tests.data_fixtures import make_utd_tree, write_video

SETTINGS = ClipSettings(num_frames=8, frame_size=32)


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
    monkeypatch.setattr(video_cache, "_decode_to_file", lambda s, t, c: decoded.append(s) or real(s, t, c))
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
    assert not done.is_set() and not list((tmp_path / "cache").rglob("*.npy"))  # rank 1 decodes nothing
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
