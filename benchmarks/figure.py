"""One figure of every benchmark ratio in ``results/benchmarks/*.csv`` (``ratios.png``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.common import OUT  # noqa: E402
from mtlkit.results import save_figure  # noqa: E402


def main() -> None:
    rows = []
    for path in sorted(OUT.glob("*.csv")):
        df = pd.read_csv(path)
        if not {"speedup", "slowdown", "ratio"} & set(df.columns):
            continue  # not a speed ratio (efficiency.csv: shares of sgemm's GFLOP/s)
        for _, r in df.iterrows():
            if pd.notna(r.get("speedup", float("nan"))):
                ratio = r["speedup"]
            else:  # a time ratio, mtlkit / baseline (peers.csv calls it ratio)
                ratio = 1 / (r["slowdown"] if pd.notna(r.get("slowdown", float("nan"))) else r["ratio"])
            parts = [
                str(r[c])
                for c in ("benchmark", "variant", "method", "peer", "weighting")
                if c in r and pd.notna(r[c])
            ]
            parts += [
                f"{c}={r[c]}"
                for c in ("n_tasks", "networks", "torch_threads", "S")
                if c in r and pd.notna(r[c])
            ]
            label = " | ".join(parts)
            rows.append({"label": label, "speedup": float(ratio)})
    table = pd.DataFrame(rows).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(table) + 1.2))
    ax.barh(table.label, table.speedup, color=["tab:blue" if v >= 1 else "tab:orange" for v in table.speedup])
    ax.axvline(1, color="k", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("speed vs baseline (x faster; < 1 = slower), log scale")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    save_figure(OUT / "ratios.png", fig)
