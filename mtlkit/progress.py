"""Progress bars: ``tqdm.auto`` (a widget in JupyterLab when ipywidgets is installed, text otherwise),
without the warning it prints in a kernel that has no ipywidgets."""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm, trange

__all__ = ["tqdm", "trange"]
