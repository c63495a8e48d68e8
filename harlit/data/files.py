"""What the datasets read from disk share: discovery, bad-sample collection, IMU loading, the video cache.

A subclass describes its files (`discover`) and how to read one IMU recording (`load_imu`); this class
turns them into a SampleTable: IMU resampled and held in memory, videos decoded once into the cache.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harlit.data.base import BadSample, HARDataModule, SampleTable
from harlit.data.clip_format import CachedClips, ClipSettings
from harlit.data.transforms import pad_recordings, resample_sequence
from harlit.data.video_cache import ClipRequest, VideoCache
from harlit.data.video_decode import DecodingClips, video_seconds
from harlit.dist import global_rank
from harlit.errors import HarlitError

log = logging.getLogger(__name__)

# Rows whose duration comes from a video header: at most this many, spread over the table. A header read
# costs milliseconds, tens of thousands of them minutes; a median needs no more.
MAX_PROBED_VIDEOS = 256


class BadFile(Exception):
    """Raised by `load_imu` for a recording that cannot be used: (path, reason)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass
class SampleFiles:
    """One sample on disk: its label, subject, protocol groups and the files of each modality."""

    sample_id: str
    label: int
    subject: int
    video: Path | None = None
    imu: Any = None  # whatever `load_imu` needs: a path, or a dict of paths
    groups: dict[str, int] = field(default_factory=dict)
    unit: str | None = None  # the recording several samples share (SampleTable.units)


def check_imu(values: np.ndarray, path: str | Path, min_length: int = 2) -> np.ndarray:
    """A (time, channels) float array with enough rows and no NaN/inf, or BadFile saying what is wrong."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise BadFile(path, f"empty IMU recording: shape {values.shape}")
    if values.shape[0] < min_length:
        raise BadFile(path, f"IMU recording too short: {values.shape[0]} rows")
    bad = ~np.isfinite(values)
    if bad.any():
        raise BadFile(path, f"NaN values: {int(bad.sum())} non-finite entries")
    return values


class FileDataModule(HARDataModule):
    """Base of the datasets that live in a folder: UTD-MHAD, MMAct, manifest."""

    layout_help = ""  # the expected layout, quoted when a root holds no data

    def __init__(
        self,
        root: str,
        cache_dir: str | None = None,
        video_resize: str = "squash",
        prepare_workers: int | None = None,
        video_cache: bool = True,
        cache_format: str = "uint8",  # the configs choose per dataset (conf/data/*.yaml)
        cache_quality: int = 90,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = Path(root).expanduser()
        self.clip_settings = ClipSettings(
            int(self.num_frames), int(self.frame_size), video_resize, cache_format, int(cache_quality)
        )
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else self.root / ".harlit_cache"
        self.prepare_workers = prepare_workers
        self.use_video_cache = video_cache
        self.absent_ids: list[str] = []  # ids the dataset itself lacks (known, not errors)
        self.not_found: list[str] = []  # ids of the full dataset not under this root

    # --- to implement per dataset --------------------------------------------------------------
    def discover(self) -> tuple[list[SampleFiles], list[BadSample]]:
        """All samples under `root` for `self.modalities`, and the files that are already known bad."""
        raise NotImplementedError

    def load_imu(self, sample: SampleFiles) -> np.ndarray:
        """The raw (time, channels) IMU recording of a sample; raise BadFile when it cannot be used."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------
    def check_root(self) -> None:
        if not self.root.is_dir():
            raise HarlitError(
                f"data.root {self.root} is not a folder; set data.root to the folder holding {self.name} ({self.layout_help})."
            )

    def no_data_error(self, what: str) -> HarlitError:
        return HarlitError(
            f"found no {self.name} {what} under {self.root.resolve()} (searched recursively); expected "
            f"{self.layout_help}. Point data.root at that folder."
        )

    def video_cache(self) -> VideoCache:
        return VideoCache(self.cache_dir, self.name, self.clip_settings)

    def _clip_requests(self, samples: Sequence[SampleFiles]) -> list[ClipRequest]:
        return [ClipRequest(s.sample_id, s.video) for s in samples if s.video is not None]

    def prepare_videos(self, progress: bool = True) -> tuple[VideoCache, list[ClipRequest], dict[str, str]]:
        """Discover and decode every video into the cache (rank 0 / `python -m harlit.prepare`)."""
        self.check_root()
        samples, _ = self.discover()
        requests = self._clip_requests(samples)
        if not requests:
            raise self.no_data_error("videos")
        cache = self.video_cache()
        return cache, requests, cache.ensure(requests, self.prepare_workers, progress)

    def prepare_data(self) -> None:
        # Lightning runs this on one process per node before `setup`; it fills the cache. A datamodule
        # already set up has cached the clips of its rows (and of those only, when set up for testing).
        if "video" in self.modalities and self.use_video_cache and self.table is None:
            self.prepare_videos()

    def build_table(self, test_only: bool = False) -> SampleTable:
        self.check_root()
        samples, bad = self.discover()
        if not samples and not bad:
            raise self.no_data_error("samples")
        if test_only:  # decide the split on names alone, then read only the test split's files
            _, test = self.split(self._index_table(samples))
            samples = [samples[i] for i in test]
        imu_by_id: dict[str, np.ndarray] = {}
        imu_seconds: dict[str, float] = {}
        if "imu" in self.modalities:
            for sample in samples:
                try:
                    imu_by_id[sample.sample_id], raw_length = self._prepared_imu(sample)
                    if self.imu_rate_hz:
                        imu_seconds[sample.sample_id] = raw_length / self.imu_rate_hz
                except BadFile as err:
                    bad.append(BadSample(sample.sample_id, err.path, err.reason))
        video_source, video_failures = None, {}
        if "video" in self.modalities:
            video_source, video_failures = self._videos(samples)
            bad += [
                BadSample(s.sample_id, str(s.video), video_failures[s.sample_id])
                for s in samples
                if s.sample_id in video_failures
            ]
        skipped = self.handle_bad_samples(bad)
        kept = [i for i, s in enumerate(samples) if s.sample_id not in skipped]
        if not kept:
            raise HarlitError(
                f"every {self.name} sample under {self.root} is bad (listed in the log); fix the files."
            )
        rows = [samples[i] for i in kept]
        imu = None
        if "imu" in self.modalities:
            imu = torch.as_tensor(pad_recordings([imu_by_id[s.sample_id] for s in rows]), dtype=torch.float32)
        video = None
        if video_source is not None:
            paths = [video_source.paths[i] for i in kept]
            video = (
                CachedClips(paths)
                if isinstance(video_source, CachedClips)
                else DecodingClips(paths, self.clip_settings)
            )
        table = self._index_table(rows)
        table.imu, table.video = imu, video
        if not test_only:  # a training run records its training clips' median duration (record_of)
            table.durations = self._durations(rows, imu_seconds)
        return table

    @staticmethod
    def _index_table(rows: Sequence[SampleFiles]) -> SampleTable:
        """The table of `rows` without their data: what `split` decides on."""
        group_names = sorted({g for s in rows for g in s.groups})
        return SampleTable(
            labels=np.asarray([s.label for s in rows], dtype=np.int64),
            subjects=np.asarray([s.subject for s in rows], dtype=np.int64),
            ids=[s.sample_id for s in rows],
            groups={g: np.asarray([s.groups.get(g, -1) for s in rows], dtype=np.int64) for g in group_names},
            units=np.asarray([s.unit or s.sample_id for s in rows]) if any(s.unit for s in rows) else None,
        )

    def _durations(self, rows: Sequence[SampleFiles], imu_seconds: dict[str, float]) -> np.ndarray:
        """Seconds of each row: its IMU samples over the dataset's IMU rate, else its video's header
        duration (for up to MAX_PROBED_VIDEOS rows spread over the table), else NaN."""
        durations = np.asarray([imu_seconds.get(s.sample_id, np.nan) for s in rows], dtype=np.float64)
        unknown = [i for i, s in enumerate(rows) if np.isnan(durations[i]) and s.video is not None]
        for i in unknown[:: max(1, math.ceil(len(unknown) / MAX_PROBED_VIDEOS))]:
            seconds = video_seconds(rows[i].video)
            durations[i] = seconds if seconds is not None else np.nan
        return durations

    def _prepared_imu(self, sample: SampleFiles) -> tuple[np.ndarray, int]:
        """Raw recording -> checked -> (channels, imu_length) on normalised time; with imu_length null,
        (channels, time) at the native rate (zero-padded later, `pad_recordings`). Also the raw length."""
        values = self.load_imu(sample)
        if self.imu_channels is not None and values.shape[1] != int(self.imu_channels):
            raise HarlitError(
                f"{sample.sample_id} has {values.shape[1]} IMU channels but data.imu_channels={self.imu_channels}; "
                f"set data.imu_channels={values.shape[1]}."
            )
        if self.imu_length is None:
            return values.T.astype(np.float32), len(values)
        return resample_sequence(values, int(self.imu_length)).T.astype(np.float32), len(values)

    def _videos(self, samples: Sequence[SampleFiles]) -> tuple[CachedClips | DecodingClips, dict[str, str]]:
        requests = [
            ClipRequest(s.sample_id, s.video) for s in samples
        ]  # discover() pairs every sample with a video
        if not self.use_video_cache:
            return DecodingClips([r.path for r in requests], self.clip_settings), {}
        cache = self.video_cache()
        # One rank decodes; the others wait for its completion marker instead of decoding the same files.
        failures = (
            cache.ensure(requests, self.prepare_workers) if global_rank() == 0 else cache.wait(requests)
        )
        return cache.source(requests), failures

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["absent_from_dataset"] = list(self.absent_ids)
        out["not_found_under_root"] = len(self.not_found)
        return out
