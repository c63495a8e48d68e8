"""The training benchmark's settings: sizes, the configs of its runs, loader variants and the run plan."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from harlit.bench.generated.utd import TEST_SAMPLE, TRAIN_SUBJECTS
from harlit.bench.what_ifs import AWAITING, what_if_flags
from harlit.config import compose_config

EXPERIMENTS = {"video": "synthetic_stage1_video", "fusion": "synthetic_stage2", "imu": "synthetic_stage1_imu"}
CACHE_EXPERIMENTS = {"video": "utd_stage1_video", "fusion": "utd_stage2", "imu": "utd_stage1_imu"}
SOURCES = ("synthetic", "cache")
CACHE_FORMATS = ("uint8", "jpeg")

# Loader settings compared in one run (data.* keys); `new` is the composed config as it stands.
LOADER_PRESETS: dict[str, dict[str, Any]] = {
    "old": {"num_workers": 4, "prefetch_factor": 2},  # trainer=gpu before the prefetch change
    "new": {},
    # What-ifs (harlit.bench.what_ifs), each awaiting a GPU measurement: the new loader with bench-only
    # patches. nosync: the training step's host syncs taken out; overlap: that, and each batch copied to
    # the GPU on a side stream while the step before it runs; resident: nosync, and the training clips
    # held in GPU memory, batches sliced there (UTD's 431 clips of 16x224x224 are 1 GB).
    "nosync": {"what_if": "nosync"},
    "overlap": {"what_if": "nosync+h2d"},
    "resident": {"what_if": "nosync+resident"},
}
VARIANTS_HELP = (
    "--source cache: loader settings compared in the run: presets old (4 workers, prefetch 2), new (the "
    f"config), and the what-ifs ({AWAITING}) nosync, overlap (nosync + copy ahead on a side stream) and "
    "resident (nosync + clips in GPU memory), or NAME:num_workers=12:prefetch_factor=4[:what_if=nosync+h2d]"
)


def hardware_override(on_gpu: bool) -> str:
    """The machine as a training run chooses it: hardware=gpu (bf16, channels_last_3d, the GPU loader
    settings, device-resident IMU; conf/hardware/gpu.yaml), or the CPU trainer."""
    return "hardware=gpu" if on_gpu else "trainer=cpu"


@dataclass
class Sizes:
    batch_size: int
    num_frames: int
    frame_size: int
    imu_length: int
    warmup: int
    steps: int
    clip_batches_per_epoch: int = 12  # synthetic clip stages loop over a short epoch; see stage_config
    imu_batch_size: int = 32  # the IMU stage trains at batch 32; its steps are cheap, so it takes 5x more

    def for_stage(self, stage: str) -> Sizes:
        if stage != "imu":
            return self
        return replace(self, batch_size=self.imu_batch_size, warmup=5 * self.warmup, steps=5 * self.steps)

    def in_whole_epochs(self, steps_per_epoch: int) -> Sizes:
        """Warm-up and timed steps rounded up to whole epochs: the timed window holds every epoch boundary
        (epoch-end hooks, loader refill) in the proportion a training run has them."""

        def whole(n: int) -> int:
            return max(1, -(-n // steps_per_epoch)) * steps_per_epoch

        return replace(self, warmup=whole(self.warmup), steps=whole(self.steps))


GPU_SIZES = Sizes(batch_size=16, num_frames=16, frame_size=224, imu_length=128, warmup=10, steps=40)
CPU_SIZES = Sizes(batch_size=4, num_frames=8, frame_size=32, imu_length=128, warmup=2, steps=6)


@dataclass
class Result:
    stage: str
    batch_size: int
    pipeline_samples_per_s: float
    ceiling_samples_per_s: float
    source: str = "synthetic"
    cache_format: str = "-"
    variant: str = "-"
    loader: dict[str, Any] = field(default_factory=dict)
    warmup_steps: int = 0
    timed_steps: int = 0
    steps_per_epoch: int | None = None
    periods: dict[str, Any] = field(default_factory=dict)  # StepTimer.periods
    error: str | None = None

    @property
    def ratio(self) -> float:
        if not self.pipeline_samples_per_s or not self.ceiling_samples_per_s:
            return float("nan")
        return self.pipeline_samples_per_s / self.ceiling_samples_per_s


def stage_config(stage: str, sizes: Sizes, on_gpu: bool, root: Path) -> DictConfig:
    """The training config of a stage, shrunk to the benchmark's sizes (clip stages loop over a short epoch)."""
    per_subject = 12  # classes; one repetition each
    batches = sizes.warmup + sizes.steps + 1
    if stage != "imu":
        # Rendering a synthetic 224x224 clip takes ~0.1 s of CPU, so clip stages loop over a short epoch
        # (persistent loader workers keep the epoch boundary cheap); IMU steps are too quick for that.
        batches = min(batches, sizes.clip_batches_per_epoch)
    samples = sizes.batch_size * batches
    repetitions = max(1, -(-samples // per_subject))
    overrides = [
        f"+experiment={EXPERIMENTS[stage]}",
        hardware_override(on_gpu),
        "logger=none",
        "data.num_subjects=2",  # subject 1 trains
        f"data.repetitions={repetitions}",
        *size_overrides(sizes),
        f"paths.root_dir={root}",
        f"paths.output_dir={root / 'bench' / stage}",
    ]
    cfg = compose_config(overrides, return_hydra_config=False)
    with open_dict(cfg):
        if "video" in cfg.model and stage != "video":
            cfg.model.video.pretrained = "none"
    return cfg


def size_overrides(sizes: Sizes) -> list[str]:
    """The `data.*` overrides that set the benchmark's clip, IMU and batch sizes."""
    return [
        f"data.num_frames={sizes.num_frames}",
        f"data.frame_size={sizes.frame_size}",
        f"data.imu_length={sizes.imu_length}",
        f"data.batch_size={sizes.batch_size}",
    ]


def loader_overrides(settings: dict[str, Any]) -> list[str]:
    """`data.*` overrides of a loader variant (its what-if flag is no data key)."""
    return [f"data.{k}={'null' if v is None else v}" for k, v in settings.items() if k != "what_if"]


def cache_stage_config(
    stage: str,
    sizes: Sizes,
    on_gpu: bool,
    root: Path,
    tree: Path,
    cache_format: str,
    loader: dict[str, Any] | None = None,
    run_name: str | None = None,
) -> DictConfig:
    """The `utd_*` experiment of a stage on the generated tree, at the benchmark's sizes.

    Everything else is the experiment's own: its augmentation, optimizer, hardware=gpu's precision, memory
    format and loader settings (unless `loader` overrides the latter). No Kinetics download: the
    encoders start from random weights, which costs the same compute.
    """
    overrides = [
        f"+experiment={CACHE_EXPERIMENTS[stage]}",
        hardware_override(on_gpu),
        "logger=none",
        f"data.root={tree}",
        f"data.cache_dir={root / 'cache'}",
        f"data.cache_format={cache_format}",
        f"data.train_subjects=[{','.join(map(str, TRAIN_SUBJECTS))}]",
        f"data.test_subjects=[{TEST_SAMPLE[1]}]",
        *size_overrides(sizes),
        *loader_overrides(loader or {}),
        f"paths.root_dir={root}",
        f"paths.output_dir={root / 'bench' / (run_name or stage)}",
    ]
    cfg = compose_config(overrides, return_hydra_config=False)
    with open_dict(cfg):
        if "video" in cfg.model:
            cfg.model.video.pretrained = "none"
    return cfg


def loader_settings(cfg: DictConfig) -> dict[str, Any]:
    """The loader settings a config resolves to, as recorded beside each figure."""
    return {k: cfg.data.get(k) for k in ("num_workers", "prefetch_factor", "pin_memory")}


def parse_variants(text: str) -> dict[str, dict[str, Any]]:
    """`old,new` or `NAME:key=value:key=value` (data loader keys, or what_if=nosync+h2d), comma-separated."""
    variants: dict[str, dict[str, Any]] = {}
    for item in (v.strip() for v in text.split(",")):
        if not item:
            continue
        name, *pairs = item.split(":")
        if not pairs:
            if name not in LOADER_PRESETS:
                raise ValueError(f"unknown loader variant {name!r}; presets: {', '.join(LOADER_PRESETS)}")
            variants[name] = dict(LOADER_PRESETS[name])
            continue
        settings: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or key not in ("num_workers", "prefetch_factor", "pin_memory", "what_if"):
                raise ValueError(
                    f"bad loader setting {pair!r} in {item!r}: num_workers, prefetch_factor, pin_memory or what_if"
                )
            settings[key] = value
        what_if_flags(settings.get("what_if"))
        variants[name] = settings
    if not variants:
        raise ValueError("no loader variant given")
    return variants


def steps_per_epoch(train_samples: int, batch_size: int) -> int:
    """Training batches per epoch: HARDataModule drops the last partial batch when there is more than one."""
    return train_samples // batch_size if train_samples > batch_size else 1


def cache_runs(
    stages: list[str],
    formats: list[str],
    variants: dict[str, dict[str, Any]],
    what_if_formats: list[str] | None = None,
) -> list[tuple[str, str, str]]:
    """(stage, format, variant) of each pipeline figure.

    Loader variants run on every format; what-if variants on `what_if_formats` only (default: all).

    The IMU stage reads no clips, and on a GPU its batches are slices of device memory
    (harlit.fastpath.DeviceResidentData) that no loader setting, copy or residency reaches: it runs once
    with and once without `nosync`, as the last variant of each kind with no other what-if
    (`old,new,nosync,overlap,resident`: new and nosync).
    """
    runs = []
    for stage in stages:
        if stage == "imu":
            chosen: dict[bool, str] = {}
            for name, settings in variants.items():
                flags = what_if_flags(settings.get("what_if"))
                kind = "nosync" in flags
                if kind not in chosen or not flags - {"nosync"}:
                    chosen[kind] = name
            runs += [(stage, "-", name) for name in variants if name in chosen.values()]
        else:
            runs += [
                (stage, fmt, name)
                for fmt in formats
                for name in variants
                if not variants[name].get("what_if") or fmt in (what_if_formats or formats)
            ]
    return runs
