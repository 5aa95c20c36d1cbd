"""``python -m benchmarks``: run every benchmark and write ``results/benchmarks/*.csv``."""

from benchmarks import figure, grouping, peers, seeds, sweep, training, transference

if __name__ == "__main__":
    training.main()
    seeds.main()
    grouping.main()
    transference.main()
    sweep.main()
    peers.main()
    figure.main()
