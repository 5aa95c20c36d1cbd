"""Every candidate network of a task set trained at once - the runs of an exhaustive ground truth
(Standley et al. 2020, arXiv 1905.07553): :func:`train_subsets`.

A seed's candidates (every task subset as a full-size network, every task as a half-width one) are two
:class:`~mtlkit.models.batched.StackedNetworks`, one per width, trained with :func:`~mtlkit.train.fit_many`.
The stacks hold several seeds' networks, each with its own seed's data, initial weights and minibatch
order, exactly as that seed's own run: networks this small spend much of a step on per-step overhead,
which one step then pays for all of them. A stack's size changes its members' float rounding (the fused
Adam kernel updates a parameter's last few elements apart from the rest), so which seeds share a stack is
fixed by the seed numbers alone - the blocks of :data:`SEED_BLOCK` consecutive seeds (:func:`seed_blocks`)
- never by how many seeds a study asks for, its seed base or its workers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from mtlkit.data import make_data
from mtlkit.grouping import candidate_networks, network_name
from mtlkit.models.batched import StackedNetworks
from mtlkit.seeding import seed_everything
from mtlkit.train import fit_many

SEED_BLOCK = 4
"""Seeds whose networks are trained together, in blocks of consecutive seed numbers: 0-3, 4-7, ..."""


def seed_blocks(seeds: Sequence[int]) -> dict[int, list[int]]:
    """The blocks of :data:`SEED_BLOCK` consecutive seed numbers that hold ``seeds``, keyed by their first
    seed: what a ground truth of ``seeds`` trains (a block's seeds outside ``seeds`` are trained too)."""
    return {f: list(range(f, f + SEED_BLOCK)) for f in sorted({int(s) - int(s) % SEED_BLOCK for s in seeds})}


def train_subsets(config: dict, networks: Sequence[tuple[frozenset[str], str]] | None = None) -> pd.DataFrame:
    """The ground truth of the seeds ``config["seeds"]`` (a pure function of ``config``): every candidate
    network of each seed (or only ``networks``, ``(tasks, size)`` pairs such as HOA's), trained at once
    with :func:`~mtlkit.train.fit_many` - full and half width as two stacks of every seed's networks, each
    seed's made, initialised and shuffled as that seed's own run (data ``make_data(**config["data"],
    seed=seed)``). Returns the per-epoch history with ``seed``, ``network`` names, ``size`` and ``cost``."""
    seeds = [int(s) for s in config["seeds"]]
    datas, stacks = [], {"full": [], "half": []}
    widths = {"full": config["width"], "half": max(1, config["width"] // 2)}
    for seed in seeds:  # each seed's data and networks exactly as its own run makes them
        seed_everything(seed)
        datas.append(make_data(**config["data"], seed=seed))
        tasks = datas[-1].task_names
        wanted = candidate_networks(tasks) if networks is None else list(networks)
        members = {size: [g for g, s in wanted if s == size] for size in stacks}
        in_dim = int(torch.tensor(datas[-1].input_shape).prod())
        for size, width in widths.items():
            if members[size]:
                stack = StackedNetworks(len(members[size]), in_dim, datas[-1].tasks, width, config["depth"])
                stacks[size].append(stack)
    frames = []
    for size, of_seeds in stacks.items():
        if not of_seeds:
            continue
        k = len(members[size])
        masks = torch.tensor([[t in g for t in tasks] for g in members[size]]).repeat(len(seeds), 1)
        offset = 0 if size == "full" else 50021
        hist = fit_many(
            StackedNetworks.concat(of_seeds),
            datas,
            masks,
            epochs=config["epochs"],
            lr=config["lr"],
            batch_size=config["batch_size"],
            seeds=[seed * 100003 + m + offset for seed in seeds for m in range(k)],
        )
        names = np.array([network_name(g, size) for g in members[size]], dtype=object)
        frames.append(
            hist.assign(
                seed=np.asarray(seeds)[hist.network.to_numpy() // k],
                network=names[hist.network.to_numpy() % k],
                size=size,
                cost=1.0 if size == "full" else 0.5,
            )
        )
    return pd.concat(frames, ignore_index=True)
