import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mtlkit.plotting import QUALITATIVE, cell_labels, colors  # noqa: E402


def test_cell_labels_never_show_negative_zero_and_leave_missing_cells_blank():
    m = pd.DataFrame([[np.nan, -0.004], [-0.006, 0.0]])
    assert cell_labels(m, ".2f").tolist() == [["", "0.00"], ["-0.01", "0.00"]]


def test_colors_are_distinct_and_fixed_per_key():
    keys = ["a", "b", "c", "d", "e", "f", "g"]
    assert len(set(colors(keys).values())) == len(QUALITATIVE) == 7
    assert colors(keys)["c"] == colors(keys[:3])["c"]
