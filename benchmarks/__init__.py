"""Speed measurements: each a ratio against the obvious baseline, measured in one run on one machine.

Run with ``make bench`` (or ``python -m benchmarks``); tables land in ``results/benchmarks/``.
"""
