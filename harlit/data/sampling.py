"""Evaluation sampling under DDP: every val/test sample scored exactly once."""

from __future__ import annotations

from typing import Any


def evaluation_sampler(dataset: Any) -> Any:
    """An unpadded distributed sampler for val/test loaders under DDP, else None (the loader's default).

    Lightning would wrap an evaluation loader in a DistributedSampler, which repeats samples so every
    rank gets as many: the duplicates would be counted in the test metrics. A sampler that already is a
    DistributedSampler is left alone, so each sample is scored exactly once; torchmetrics sums the counts
    across ranks, and the results equal a single process's.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    if len(dataset) < dist.get_world_size():
        return None  # every rank needs a batch; so tiny a set is evaluated with padding
    from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, shuffle=False)
