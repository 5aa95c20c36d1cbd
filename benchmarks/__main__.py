"""``python -m benchmarks``: run every benchmark and write ``results/benchmarks/*.csv``."""

from benchmarks import grouping, training, transference

if __name__ == "__main__":
    training.main()
    grouping.main()
    transference.main()
