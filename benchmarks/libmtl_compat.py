"""Import LibMTL 1.1.5 (its only PyPI release, 2022) on torch 2.13 on a CPU without torchvision.

LibMTL is installed unchanged (``pip install --no-deps -r requirements-bench.lock``); :func:`import_libmtl`
applies four small fixes at import, by wrapping or replacing single methods, and returns the package:

(a) ``LibMTL/model/resnet.py`` imports ``torchvision.models.utils.load_state_dict_from_url`` (a module
    torchvision removed in 0.13). Only LibMTL's ImageNet ResNets use it, never the benchmarks; while LibMTL
    is imported, the missing module is provided from :func:`torch.hub.load_state_dict_from_url` (the
    function torchvision itself re-exported), then removed again, so ``import torchvision`` elsewhere still
    fails as it should.
(b) ``Trainer.__init__`` hard-codes ``torch.device('cuda:0')``; ``Trainer._prepare_model`` (its next call,
    before anything is allocated) is wrapped to switch to the CPU when CUDA is absent.
(c) ``Trainer._process_data`` calls ``iterator.next()``, a Python 2 method no Python 3 iterator has; it is
    replaced by the same code with ``next(iterator)``.
(d) ``AbsArchitecture.zero_grad_share_params`` calls ``encoder.zero_grad()``, which since torch 2.0 sets
    ``.grad`` to ``None``; PCGrad, GradNorm and MGDA then assign into ``param.grad.data``, so it is replaced
    by ``zero_grad(set_to_none=False)`` (the torch 1.x behaviour LibMTL was written for).
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

import torch

_PATCHED = "_mtlkit_compat"


def _missing(name: str) -> bool:
    """True when module ``name`` cannot be imported (a parent that is missing counts as missing)."""
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True


def _torchvision_stub() -> list[str]:
    """Put a ``torchvision.models.utils`` with ``load_state_dict_from_url`` in ``sys.modules`` where the real
    one is missing (fix a); return the names added, to remove after LibMTL's import."""
    added = []
    if not _missing("torchvision.models.utils"):
        return added
    for name in ("torchvision", "torchvision.models", "torchvision.models.utils"):
        if name in sys.modules or not _missing(name):
            importlib.import_module(name)  # a real parent (a torchvision >= 0.13): keep it
            continue
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        sys.modules[name] = module
        added.append(name)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    sys.modules["torchvision.models.utils"].load_state_dict_from_url = torch.hub.load_state_dict_from_url
    return added


def _process_data(self: Any, loader: list) -> tuple[torch.Tensor, Any]:
    """LibMTL's ``Trainer._process_data`` with ``next(it)`` for ``it.next()`` (fix c): the next batch of
    ``loader = [iterable, iterator]``, restarting the iterator once it is exhausted."""
    try:
        data, label = next(loader[1])
    except StopIteration:
        loader[1] = iter(loader[0])
        data, label = next(loader[1])
    data = data.to(self.device, non_blocking=True)
    if not self.multi_input:
        for task in self.task_name:
            label[task] = label[task].to(self.device, non_blocking=True)
    else:
        label = label.to(self.device, non_blocking=True)
    return data, label


def _zero_grad_share_params(self: Any) -> None:
    """Zero the shared parameters' gradients in place (fix d): LibMTL assigns into ``.grad.data`` next."""
    self.encoder.zero_grad(set_to_none=False)


def import_libmtl() -> types.ModuleType:
    """``import LibMTL`` with the four fixes of this module applied once; raises ``ImportError`` when
    LibMTL is not installed."""
    if _missing("LibMTL"):
        raise ImportError("LibMTL is not installed (pip install --no-deps -r requirements-bench.lock)")
    added = _torchvision_stub()
    try:
        import LibMTL
        from LibMTL.architecture.abstract_arch import AbsArchitecture
        from LibMTL.trainer import Trainer
    finally:
        for name in reversed(added):  # (a) only LibMTL's import needed it
            sys.modules.pop(name, None)
    if getattr(Trainer, _PATCHED, False):
        return LibMTL
    prepare_model = Trainer._prepare_model

    @functools.wraps(prepare_model)
    def _prepare_model(self: Any, *args: Any, **kwargs: Any) -> None:
        if not torch.cuda.is_available():  # (b) __init__ just set cuda:0; nothing is on it yet
            self.device = torch.device("cpu")
        prepare_model(self, *args, **kwargs)

    Trainer._prepare_model = _prepare_model
    Trainer._process_data = _process_data  # (c) Python 3 iterators have no .next()
    AbsArchitecture.zero_grad_share_params = _zero_grad_share_params  # (d) torch >= 2.0 zero_grad sets None
    setattr(Trainer, _PATCHED, True)
    return LibMTL
