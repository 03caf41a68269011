"""Batch samplers that are identical on one process and on many.

Training draws *global* batches of ``batch_size * world_size`` items (seeded by seed + epoch, so
every rank builds the same list without talking), and rank ``r`` takes slice ``r`` of each. With
lengths given, items are grouped by length first (shuffle, cut into pools of ``pool`` global batches,
sort each pool by length, cut into batches, shuffle the batches), so little compute goes to padding.
The last global batch is filled up by wrapping round, so every rank steps the same number of times.
One process with ``batch_size * N`` therefore sees exactly the batches N processes see together.

Evaluation shards items ``rank::world_size`` without repeats (ranks may do different numbers of
batches; no collective runs inside evaluation) and batches them in length order.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np


class GlobalBatchSampler:
    def __init__(
        self,
        num_items: int,
        batch_size: int,
        lengths: Sequence[int] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pool: int = 50,
    ):
        if num_items <= 0:
            raise ValueError("no items to sample")
        self.n = num_items
        self.batch_size = batch_size
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.pool = pool
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        return math.ceil(self.n / self.global_batch)

    def global_batches(self) -> list[np.ndarray]:
        gb = self.global_batch
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        need = len(self) * gb
        if need > self.n:  # wrap round so every global batch is full
            order = np.concatenate([order, np.resize(order, need - self.n)])
        if self.lengths is not None:
            chunks = []
            step = gb * self.pool
            for s in range(0, need, step):
                chunk = order[s : s + step]
                chunks.append(chunk[np.argsort(-self.lengths[chunk], kind="stable")])
            order = np.concatenate(chunks)
        batches = [order[i : i + gb] for i in range(0, need, gb)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        b = self.batch_size
        for g in self.global_batches():
            yield g[self.rank * b : (self.rank + 1) * b].tolist()


class ShardBatchSampler:
    """Each item exactly once over all ranks; batches of similar lengths."""

    def __init__(
        self, num_items: int, batch_size: int, lengths: Sequence[int] | None = None, rank: int = 0, world_size: int = 1
    ):
        mine = np.arange(rank, num_items, world_size)
        if lengths is not None:
            mine = mine[np.argsort(-np.asarray(lengths)[mine], kind="stable")]
        self.batches = [mine[i : i + batch_size].tolist() for i in range(0, len(mine), batch_size)]

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)
