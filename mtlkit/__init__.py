"""mtlkit: reproducible, Jupyter-first studies of multi-task learning.

The flow is one-directional: ``data`` makes tasks, ``models`` share (or don't), ``train`` with a
``weighting`` combines task objectives, ``study``/``stats``/``results`` measure and report.
"""

__version__ = "0.1.0"
