"""Untrimmed recordings: `python -m harlit.predict model_path=... video=long.mp4 imu=long.csv stride=1s`.

A window slides along the recording every `stride`; its length is `window=`, by default the median duration
of the model's training clips (`clip_seconds` in its preprocessing record). Each stream is cut by its own
clock: the video by its container's timestamps, the IMU by its sample rate (a UTD-MHAD .mat: 50 Hz; a .csv
whose first column is named `time`, in seconds: from its timestamps; an MMAct recording, its four sensor CSVs
or their folder: the model's sensor rate, at which they are fused; otherwise `imu_rate=`). Both streams are
taken to start together; streams whose lengths differ by more than a tenth of a window are refused. Each window is
then prepared exactly as one training clip (frames at the centres of equal segments of the window's frames,
IMU resampled and normalised by harlit.data.preprocess) and classified.

Windows start at 0, stride, 2 stride, ...; when the last one that fits ends before the recording does, one
more window ends at the recording's end, so the tail is classified too (a note says so). Writes one row per
window (start, end, top-k) to timeline.csv and the class probabilities over time to timeline.png.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig
from tqdm.auto import tqdm

from harlit.data import preprocess
from harlit.data.clip_format import ClipSettings
from harlit.data.transforms import sample_frame_indices
from harlit.data.utd_mhad import IMU_RATE_HZ as UTD_IMU_RATE_HZ
from harlit.data.video_decode import VideoDecodeError, decode_windows, frame_times
from harlit.errors import HarlitError
from harlit.io import atomic_write_bytes, atomic_write_text
from harlit.trained import TrainedModel

DURATION = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s)?")
TIME_COLUMNS = ("time", "time_s", "timestamp", "t")  # a first CSV column of seconds, named so
EPSILON_S = 1e-6  # float slack on window edges, far below any frame or sample interval
NOTABLE = 0.25  # the plot shows the classes that reach this probability in some window (or are a top-1)
MAX_PLOTTED = 12  # more lines than this make the plot unreadable; the CSV has every window's top-k
MAX_PRINTED = 30  # segments of the top-1 printed; the CSV has all


def parse_duration(value: Any, key: str) -> float:
    """Seconds from `1s`, `500ms`, `2.5` (seconds) or a number; one sentence naming `key` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = DURATION.fullmatch(str(value).strip())
        if match is None:
            raise HarlitError(
                f"{key}={value} is not a duration; write it like {key}=1s, {key}=500ms or {key}=2.5."
            )
        seconds = float(match["number"]) / (1000.0 if match["unit"] == "ms" else 1.0)
    if not math.isfinite(seconds) or seconds <= 0:
        raise HarlitError(f"{key}={value} is not a positive duration; write it like {key}=1s or {key}=500ms.")
    return seconds


def plan_windows(
    duration: float, window: float, stride: float, slack: float = EPSILON_S
) -> tuple[list[tuple[float, float]], float]:
    """(start, end) of each window over `duration` seconds, and the tail (s) the extra end-aligned window
    covers (0: none). A tail within `slack` (half a sample of the streams' clocks) holds no data of its own."""
    count = int(math.floor((duration - window + slack) / stride)) + 1
    windows = [(k * stride, k * stride + window) for k in range(count)]
    tail = duration - windows[-1][1]
    if tail > slack:
        windows.append((duration - window, duration))
        return windows, tail
    return windows, 0.0


@dataclass(frozen=True)
class ImuStream:
    """A (samples, channels) recording at `rate` Hz, cut into windows by sample counts."""

    values: np.ndarray
    rate: float
    source: str

    @property
    def duration(self) -> float:
        return len(self.values) / self.rate

    def samples(self, seconds: float) -> int:
        return int(round(seconds * self.rate))

    def cut(self, start: float, window: float) -> np.ndarray:
        count = self.samples(window)
        first = min(self.samples(start), len(self.values) - count)  # the end-aligned window ends at the end
        return self.values[first : first + count]


def _time_column(path: Path) -> bool:
    with open(path, newline="") as handle:
        header = next((row for row in csv.reader(handle) if row and any(c.strip() for c in row)), [])
    return bool(header) and header[0].strip().lower() in TIME_COLUMNS


def read_imu_stream(path: Path | list[Path], given_rate: Any, sensor_rate: float | None) -> ImuStream:
    """The recording and its rate: `imu_rate=` if given, else what the file says; one sentence if it says none."""
    if isinstance(path, list) or path.is_dir():  # MMAct: four sensor CSVs, fused onto one timeline
        if given_rate is not None:
            raise HarlitError(
                "imu_rate= does not apply to an MMAct recording: its sensor CSVs carry timestamps and are fused at "
                "the model's sensor rate; leave imu_rate= out."
            )
        values = preprocess.read_imu_recording(path, sensor_rate)  # one sentence when the model has no rate
        source = str(path) if isinstance(path, Path) else f"the sensor CSVs {[str(p) for p in path]}"
        return ImuStream(values, float(sensor_rate), source)  # type: ignore[arg-type]  # None raised above
    values = preprocess.read_imu_recording(path)
    rate = None
    if path.suffix.lower() == ".csv" and _time_column(path):
        times, values = values[:, 0], values[:, 1:]
        if len(times) < 2 or np.any(np.diff(times) <= 0):
            raise HarlitError(
                f"the time column of {path} does not increase from row to row; fix it, or drop it and set imu_rate=."
            )
        rate = (len(times) - 1) / (times[-1] - times[0])
    elif path.suffix.lower() == ".mat":
        rate = UTD_IMU_RATE_HZ  # a UTD-MHAD d_iner recording
    if given_rate is not None:
        try:
            rate = float(given_rate)
        except (TypeError, ValueError):
            rate = float("nan")
        if not math.isfinite(rate) or rate <= 0:
            raise HarlitError(
                f"imu_rate={given_rate} is not a rate; give the IMU's samples per second, e.g. imu_rate=50."
            )
    if rate is None:
        raise HarlitError(
            f"the IMU file {path} does not say its sample rate (a .csv can, in a first column named time, in "
            "seconds); set imu_rate= to its samples per second, e.g. imu_rate=50."
        )
    return ImuStream(values, float(rate), str(path))


class VideoStream:
    """A video's frame times, and its windows decoded and prepared as the model's training clips were."""

    def __init__(self, path: Path, record: dict[str, Any]) -> None:
        if not path.is_file():
            raise HarlitError(f"the video {path} does not exist; check the path.")
        video = record["video"]
        self.path = path
        self.settings = ClipSettings(int(video["num_frames"]), int(video["frame_size"]), str(video["resize"]))
        try:
            self.times = frame_times(path)
        except VideoDecodeError as err:
            raise HarlitError(f"the video {path} cannot be used ({err}); re-encode it.") from None
        if len(self.times) < 2:
            raise HarlitError(
                f"the video {path} has {len(self.times)} frame; a timeline needs a longer video."
            )
        self.interval = float(np.median(np.diff(self.times)))
        if self.interval <= 0:
            raise HarlitError(f"the video {path} gives most of its frames the same timestamp; re-encode it.")

    @property
    def duration(self) -> float:
        return float(self.times[-1]) + self.interval  # the last frame shows for one frame interval

    def frames_in(self, start: float, end: float) -> np.ndarray:
        """The indices of the frames shown in [start, end), chosen as training chose a clip's frames."""
        edge = min(1e-3, self.interval / 4)  # containers round timestamps, to the millisecond at worst
        first, stop = np.searchsorted(self.times, [start - edge, end - edge])
        if stop <= first:
            gap = float(np.diff(self.times).max())
            raise HarlitError(
                f"the video {self.path} shows no frame between {start:.2f} s and {end:.2f} s; set window= longer "
                f"than its longest gap between frames ({gap:.2f} s)."
            )
        return first + sample_frame_indices(int(stop - first), self.settings.num_frames)

    def clips(self, windows: list[tuple[float, float]]) -> Iterator[torch.Tensor]:
        """Each window's clip (3, T, size, size) uint8, in one decoding pass; frame choices checked first."""
        return self._decode([self.frames_in(start, end) for start, end in windows])

    def _decode(self, chosen: list[np.ndarray]) -> Iterator[torch.Tensor]:
        try:
            for clip in decode_windows(self.path, self.settings, chosen):
                yield torch.from_numpy(clip)
        except VideoDecodeError as err:
            raise HarlitError(f"the video {self.path} cannot be used ({err}); re-encode it.") from None


def common_duration(video: VideoStream | None, imu: ImuStream | None, window: float) -> float:
    """The recording's duration; one sentence when the two streams disagree by more than a tenth of a window."""
    if video is None or imu is None:
        stream = video or imu
        assert stream is not None  # predict_timeline refuses a timeline of no stream
        return stream.duration
    slack = max(0.1 * window, video.interval + 1.0 / imu.rate)
    if abs(video.duration - imu.duration) > slack:
        raise HarlitError(
            f"the video {video.path} lasts {video.duration:.2f} s but the IMU recording {imu.source} lasts "
            f"{imu.duration:.2f} s ({len(imu.values)} samples at {imu.rate:g} Hz); give recordings of the same "
            f"interval, or set imu_rate={len(imu.values) / video.duration:.4g} if that is the IMU's true rate."
        )
    return min(video.duration, imu.duration)


def check_window(model: TrainedModel, imu: ImuStream | None, window: float, duration: float) -> None:
    """One sentence for a window the recording or the model's IMU encoder cannot take."""
    if window > duration + EPSILON_S:
        most = math.floor(duration * 100) / 100  # rounded down: the suggestion itself must fit
        raise HarlitError(
            f"window={window:g}s is longer than the recording ({duration:.2f} s); set window= to at most {most:g}s."
        )
    if imu is None:
        return
    record = model.preprocessing["imu"]
    count, field = imu.samples(window), model.classifier.encoders["imu"].receptive_field
    if count < field:
        raise HarlitError(
            f"window={window:g}s holds {count} IMU samples at {imu.rate:g} Hz, fewer than the IMU encoder's "
            f"receptive field of {field}; set window= to at least {field / imu.rate:.2f}s."
        )
    if "imu_length" in record and record["imu_length"] is None:  # native rate, zero-padded
        trained_rate, length = record.get("rate_hz"), int(record["length"])
        if trained_rate and abs(trained_rate - imu.rate) > 0.01 * trained_rate:
            raise HarlitError(
                f"this model reads IMU at its native {trained_rate:g} Hz (no resampling) but {imu.source} is at "
                f"{imu.rate:g} Hz; give a recording at {trained_rate:g} Hz."
            )
        if count > length:
            raise HarlitError(
                f"window={window:g}s holds {count} IMU samples, more than the {length} this model was trained "
                f"on (native rate, zero-padded); set window= to at most {length / imu.rate:.2f}s."
            )


def classify(
    model: TrainedModel,
    windows: list[tuple[float, float]],
    video: VideoStream | None,
    imu: ImuStream | None,
    batch_size: int,
) -> torch.Tensor:
    """Class probabilities (windows, classes), one forward pass per `batch_size` windows."""
    clips = video.clips(windows) if video is not None else None
    window = windows[0][1] - windows[0][0]
    out = []
    with tqdm(total=len(windows), desc="timeline", unit="window") as bar:
        for first in range(0, len(windows), batch_size):
            batches = [
                model.prepare(
                    video=next(clips) if clips is not None else None,
                    imu=imu.cut(start, window) if imu is not None else None,
                )
                for start, _ in windows[first : first + batch_size]
            ]
            out.append(model.predict_batch({k: torch.cat([b[k] for b in batches]) for k in batches[0]}))
            bar.update(len(batches))
    return torch.cat(out)


def write_csv(
    path: Path, model: TrainedModel, windows: list[tuple[float, float]], probs: torch.Tensor, k: int
) -> None:
    k = min(k, len(model.class_names))
    header = ["start_s", "end_s"] + [f"top{i}_{kind}" for i in range(1, k + 1) for kind in ("class", "prob")]
    rows = []
    for (start, end), p in zip(windows, probs, strict=True):
        rows.append(
            [f"{start:.3f}", f"{end:.3f}"] + [c for n, v in model.top_k(p, k) for c in (n, f"{v:.6f}")]
        )
    buffer = StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    atomic_write_text(path, buffer.getvalue())


def draw(
    path: Path, windows: list[tuple[float, float]], probs: torch.Tensor, names: list[str], title: str
) -> None:
    """The notable classes' probabilities over time (window centres), one line each, as a PNG."""
    from matplotlib.figure import Figure  # here: predicting one pair never pays for importing matplotlib

    centres = np.asarray([(start + end) / 2 for start, end in windows])
    values = probs.numpy()
    peaks = values.max(axis=0)
    notable = set(np.flatnonzero(peaks >= NOTABLE)) | set(values.argmax(axis=1).tolist())
    shown = sorted(notable, key=lambda c: -peaks[c])[:MAX_PLOTTED]
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.add_subplot()
    for c in sorted(shown, key=lambda c: int(values[:, c].argmax())):  # legend in order of appearance
        axes.plot(centres, values[:, c], marker="." if len(windows) <= 60 else None, label=names[c])
    axes.set(xlabel="time (s, window centre)", ylabel="probability", xlim=(0, windows[-1][1]), ylim=(0, 1.02))
    axes.set_title(title)
    left_out = f" ({len(notable) - len(shown)} more in the CSV)" if len(notable) > len(shown) else ""
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title=f"top-1 or ≥ {NOTABLE:g}{left_out}")
    axes.grid(alpha=0.3)
    atomic_write_bytes(path, lambda handle: figure.savefig(handle, format="png", dpi=100))


def segments(windows: list[tuple[float, float]], probs: torch.Tensor, names: list[str]) -> list[str]:
    """Runs of windows with the same top-1 class: `centre of first - centre of last, class, mean probability`."""
    top = probs.argmax(dim=1).tolist()
    lines, begin = [], 0
    for i in range(1, len(top) + 1):
        if i == len(top) or top[i] != top[begin]:
            first, last = sum(windows[begin]) / 2, sum(windows[i - 1]) / 2
            mean = float(probs[begin:i, top[begin]].mean())
            lines.append(f"  {first:8.2f} - {last:8.2f} s  {names[top[begin]]}  ({mean:.2f})")
            begin = i
    return lines


def timeline_settings(cfg: DictConfig, model: TrainedModel) -> tuple[dict[str, Any], float, float]:
    """The streams given, the stride and the window (s), each checked; one sentence for what to set."""
    if cfg.get("manifest"):
        raise HarlitError(
            "a timeline reads one recording: give video= and/or imu= with stride=, not manifest=."
        )
    given: dict[str, Any] = {m: Path(str(cfg[m])).expanduser() for m in ("video", "imu") if cfg.get(m)}
    if isinstance(cfg.get("imu"), ListConfig):  # imu=[...]: the four sensor CSVs of an MMAct recording
        given["imu"] = [Path(str(p)).expanduser() for p in cfg.imu]
    uses = " and ".join(model.modalities)
    if not given:
        raise HarlitError(f"a timeline needs video=, imu= or both; this model uses {uses}.")
    for name, path in given.items():
        if name not in model.modalities:
            raise HarlitError(f"this model uses {uses} only; leave out {name}={path}.")
    if cfg.get("imu_rate") is not None and "imu" not in given:
        raise HarlitError("imu_rate= is the rate of imu=, which is not given; leave it out or give imu=.")
    stride = parse_duration(cfg.stride, "stride")
    if cfg.get("window") is not None:
        window = parse_duration(cfg.window, "window")
    elif model.preprocessing.get("clip_seconds"):
        window = float(model.preprocessing["clip_seconds"])
    else:
        raise HarlitError(
            f"the model {model.source} records no duration of its training clips (its data has no known rate, or "
            "the file predates timelines); set window=, e.g. window=3s."
        )
    if stride > window + EPSILON_S:
        raise HarlitError(
            f"stride={cfg.stride} is longer than the {window:g} s window, which would leave parts of the recording "
            "in no window; set stride= to at most the window."
        )
    return given, stride, window


def predict_timeline(cfg: DictConfig, model: TrainedModel) -> Path:
    """Slide a window along `cfg.video` / `cfg.imu` every `cfg.stride`; writes the CSV and PNG, returns the CSV."""
    given, stride, window = timeline_settings(cfg, model)
    imu = read_imu_stream(given["imu"], cfg.get("imu_rate"), model.sensor_rate) if "imu" in given else None
    video = VideoStream(given["video"], model.preprocessing) if "video" in given else None
    duration = common_duration(video, imu, window)
    check_window(model, imu, window, duration)
    clocks = ([video.interval] if video else []) + ([1.0 / imu.rate] if imu else [])
    slack = min(clocks) / 2  # half a sample of the finer clock: differences below it are no data
    windows, tail = plan_windows(duration, window, stride, slack)

    streams = [f"video at {(len(video.times) - 1) / video.times[-1]:.3g} fps"] if video else []
    streams += [f"IMU at {imu.rate:g} Hz"] if imu else []
    print(
        f"timeline: {len(windows)} windows of {window:g} s every {stride:g} s over {duration:.2f} s ({', '.join(streams)})"
    )
    for modality in model.modalities:
        if modality not in given:
            print(
                f"note: no {modality}= given; the model's missing-{modality} value stands in for it in every window."
            )
    if video and imu and abs(video.duration - imu.duration) > slack:
        longer = "video" if video.duration > imu.duration else "IMU recording"
        print(
            f"note: the {longer} is {abs(video.duration - imu.duration):.2f} s longer; the timeline ends with the shorter."
        )
    if tail > 0:
        print(
            f"note: the last {tail:.2f} s after the last window on the stride grid are covered by one more window, "
            f"{windows[-1][0]:.2f}-{windows[-1][1]:.2f} s, ending at the recording's end."
        )
    probs = classify(model, windows, video, imu, int(cfg.batch_size))

    out = Path(str(cfg.out)).expanduser() if cfg.get("out") else Path(cfg.paths.output_dir) / "timeline.csv"
    picture = out.with_suffix(".png")
    write_csv(out, model, windows, probs, int(cfg.top_k))
    recording = " + ".join(p.name if isinstance(p, Path) else f"{len(p)} sensor CSVs" for p in given.values())
    draw(picture, windows, probs, model.class_names, f"{recording}: {window:g} s windows every {stride:g} s")
    lines = segments(windows, probs, model.class_names)
    print("top-1 over time (window centres):")
    print("\n".join(lines[:MAX_PRINTED]))
    if len(lines) > MAX_PRINTED:
        print(f"  ... {len(lines) - MAX_PRINTED} more changes of the top-1 class in {out}")
    print(f"wrote {out} and {picture}")
    return out
