"""The profiler-timeline analysis of the training benchmark: where each step's time goes, and where the
GPU waited, from a torch.profiler trace of Lightning's actions (see harlit.bench.profiling)."""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

# Lightning's profiler actions, in the order a step runs them: (label, pattern of the action name).
STEP_PARTS = (
    ("wait for the next batch (loader fetch)", r"^\[_TrainingEpochLoop\]\.train_dataloader_next$"),
    ("host-to-device copy (transfer_batch_to_device)", r"\.transfer_batch_to_device$"),
    ("augmentation (on_after_batch_transfer)", r"\.on_after_batch_transfer$"),
    ("forward + loss + metrics + log (training_step)", r"^\[Strategy\]\w+\.training_step$"),
    ("backward", r"^\[Strategy\]\w+\.backward$"),
    ("optimizer_step (incl. the two above)", r"^\[LightningModule\]\w+\.optimizer_step$"),
    ("zero_grad", r"\.optimizer_zero_grad$"),
    ("step-end hooks (on_train_batch_end)", r"\.on_train_batch_end$"),
    ("epoch-end hooks (on_train_epoch_end: epoch metrics)", r"\.on_train_epoch_end$"),
)
SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy")


def _attr(event: Any, *names: str) -> float:
    for name in names:
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def merge_intervals(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals covering the same time."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _length(intervals: Iterable[tuple[float, float]]) -> float:
    return sum(b - a for a, b in intervals)


def gpu_idle(busy: list[tuple[float, float]], window: tuple[float, float]) -> list[tuple[float, float]]:
    """The gaps of `busy` (merged) inside `window`."""
    gaps, cursor = [], window[0]
    for a, b in busy:
        if a > cursor:
            gaps.append((cursor, min(a, window[1])))
        cursor = max(cursor, b)
        if cursor >= window[1]:
            break
    if cursor < window[1]:
        gaps.append((cursor, window[1]))
    return [(a, b) for a, b in gaps if b > a]


def overlap(ranges: Iterable[tuple[float, float]], gaps: list[tuple[float, float]]) -> float:
    """Time of `gaps` (sorted, disjoint) that falls inside the union of `ranges`."""
    starts = [a for a, _ in gaps]
    total = 0.0
    for a, b in merge_intervals(ranges):
        i = max(0, bisect.bisect_right(starts, a) - 1)
        while i < len(gaps) and gaps[i][0] < b:
            total += max(0.0, min(b, gaps[i][1]) - max(a, gaps[i][0]))
            i += 1
    return total


def idle_by_part(
    host_ranges: dict[str, list[tuple[float, float]]],
    device_spans: list[tuple[float, float]],
    window: tuple[float, float],
) -> dict[str, float]:
    """Microseconds the GPU sat idle while the host was inside each labelled range (ranges may nest, so
    the figures overlap), plus the total idle time under "total"."""
    gaps = gpu_idle(merge_intervals(device_spans), window)
    out = {label: overlap(ranges, gaps) for label, ranges in host_ranges.items()}
    out["total"] = _length(gaps)
    return out


def profile_breakdown(prof: Any, steps: int, wall_s: float) -> dict[str, Any]:
    """Per-step milliseconds of each part of a step, from a torch.profiler trace's ranges and device events."""
    averages = prof.key_averages()
    per_step = 1e-3 / steps  # us in the window -> ms per step
    host: dict[str, float] = {}
    device: dict[str, float] = {}
    for label, pattern in STEP_PARTS:
        rows = [a for a in averages if re.search(pattern, a.key)]
        host[label] = round(sum(_attr(a, "cpu_time_total") for a in rows) * per_step, 3)
        device[label] = round(
            sum(_attr(a, "device_time_total", "cuda_time_total") for a in rows) * per_step, 3
        )
    optimizer = "optimizer_step (incl. the two above)"
    host["optimizer update alone"] = round(
        host[optimizer] - host["forward + loss + metrics + log (training_step)"] - host["backward"], 3
    )
    window_ms = 1e3 * wall_s / steps
    accounted = sum(
        host[label]
        for label in (
            "wait for the next batch (loader fetch)",
            "host-to-device copy (transfer_batch_to_device)",
            "augmentation (on_after_batch_transfer)",
            optimizer,
            "zero_grad",
            "step-end hooks (on_train_batch_end)",
            "epoch-end hooks (on_train_epoch_end: epoch metrics)",
        )
    )
    host["rest of the loop (Lightning bookkeeping, logging, loader reset)"] = round(window_ms - accounted, 3)
    syncs = [a for a in averages if a.key in SYNC_CALLS]
    events = list(prof.events() or [])
    gpu = [e for e in events if str(getattr(e, "device_type", "")).endswith("CUDA")]
    cpu = [e for e in events if not str(getattr(e, "device_type", "")).endswith("CUDA")]
    spans = [(e.time_range.start, e.time_range.end) for e in gpu]
    copies_in = [e for e in gpu if e.name.startswith("Memcpy HtoD")]
    out: dict[str, Any] = {
        "steps": steps,
        "window_ms_per_step": round(window_ms, 3),
        "host_ms_per_step": host,
        "host_syncs_per_step": round(sum(a.count for a in syncs) / steps, 2),
        "host_sync_ms_per_step": round(sum(_attr(a, "cpu_time_total") for a in syncs) * per_step, 3),
        "host_sync_calls": {a.key: a.count for a in syncs},
    }
    if gpu and cpu:
        # The trace's window: from the first host event to the last (the closing device synchronisation).
        window = (min(e.time_range.start for e in cpu), max(e.time_range.end for e in cpu))
        busy = _length(merge_intervals(spans)) * per_step
        trace_ms = (window[1] - window[0]) * per_step
        out["device_ms_per_step_by_part"] = device
        out["gpu_busy_ms_per_step"] = round(busy, 3)
        out["gpu_busy_fraction"] = round(busy / trace_ms, 3) if trace_ms else None
        ranges = {
            label: [(e.time_range.start, e.time_range.end) for e in cpu if re.search(pattern, e.name)]
            for label, pattern in STEP_PARTS
        }
        ranges["host sync calls"] = [
            (e.time_range.start, e.time_range.end) for e in cpu if e.name in SYNC_CALLS
        ]
        idle = idle_by_part(ranges, spans, window)
        out["gpu_idle_ms_per_step"] = round(idle.pop("total") * per_step, 3)
        out["gpu_idle_ms_per_step_while_host_in"] = {k: round(v * per_step, 3) for k, v in idle.items()}
        out["h2d_copy_ms_per_step"] = round(sum(e.time_range.elapsed_us() for e in copies_in) * per_step, 3)
        out["h2d_copies"] = dict(Counter(e.name for e in copies_in))
    return out


def format_breakdown(name: str, info: dict[str, Any]) -> str:
    """The breakdown as the text that heads `profile_<name>.txt` and is printed."""
    lines = [f"# {name}: {info['steps']} steps, {info['window_ms_per_step']:.2f} ms per step (wall)"]
    if "gpu_busy_ms_per_step" in info:
        lines.append(
            f"GPU busy {info['gpu_busy_ms_per_step']:.2f} ms per step ({100 * (info['gpu_busy_fraction'] or 0):.0f}% "
            f"of the traced time), idle {info['gpu_idle_ms_per_step']:.2f} ms; host-to-device copies on the GPU "
            f"{info['h2d_copy_ms_per_step']:.2f} ms per step {info['h2d_copies']}"
        )
        lines.append("GPU idle ms per step while the host was in (ranges nest, so these overlap):")
        lines += [
            f"  {label:<66} {value:>9.3f}"
            for label, value in info["gpu_idle_ms_per_step_while_host_in"].items()
        ]
    lines.append(
        f"host syncs: {info['host_syncs_per_step']} per step, {info['host_sync_ms_per_step']:.2f} ms per step "
        f"blocked {info['host_sync_calls']}"
    )
    lines.append(
        "host (CPU wall) ms per step by part"
        + (", device ms launched from it:" if "device_ms_per_step_by_part" in info else ":")
    )
    for label, value in info["host_ms_per_step"].items():
        device = info.get("device_ms_per_step_by_part", {}).get(label)
        lines.append(
            f"  {label:<66} {value:>9.3f}" + (f"   gpu {device:>8.3f}" if device is not None else "")
        )
    if info.get("sync_sites"):
        lines.append("synchronising calls in the window (torch.cuda.set_sync_debug_mode), by Python caller:")
        lines += [f"  {count:>5}  {site}" for site, count in info["sync_sites"].items()]
    return "\n".join(lines)
