"""How the splits are served: DataLoaders, and the unpadded evaluation sampler used under DDP.

harlit/data imports nothing of the training or DDP machinery; the sampler lives here for that reason.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader, Dataset


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


def drops_last(shuffle: bool, size: int, batch_size: int) -> bool:
    """Whether a loader drops its last, short batch: a training loader with more than one batch does, since
    BatchNorm in the heads needs more than one sample; evaluation never does."""
    return shuffle and size > batch_size


def split_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    pin_memory: bool,
    prefetch_factor: int | None = None,
) -> DataLoader:
    """A shuffled training loader, or an ordered evaluation loader (unpadded under DDP).

    `prefetch_factor`: batches each worker loads ahead (None: torch's default, 2); only with workers,
    since a loader without workers loads nothing ahead and torch refuses the argument then.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        # Under DDP each rank evaluates its own share once, without DistributedSampler's padding.
        sampler=None if shuffle else evaluation_sampler(dataset),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        drop_last=drops_last(shuffle, len(dataset), batch_size),
    )
