"""``python -m benchmarks``: run every benchmark and write ``results/benchmarks/*.csv``."""

from mtlkit.host import use_portable_kernels

use_portable_kernels()  # before any arithmetic: the same kernels as every study's run (mtlkit.host)

from benchmarks import (  # noqa: E402
    efficiency,
    figure,
    grouping,
    peers,
    seeds,
    select_scaling,
    sweep,
    training,
    transference,
)

if __name__ == "__main__":
    training.main()
    seeds.main()
    efficiency.main()
    grouping.main()
    select_scaling.main()
    transference.main()
    sweep.main()
    peers.main()
    figure.main()
