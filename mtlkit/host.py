"""The machine a run computes on: the same kernels on every x86 host, one thread per run, and a record of both.

Floating-point results depend on more than the seed. A sum split over two threads rounds differently from
one thread's sum, and MKL, oneDNN and PyTorch's own vectorised kernels pick their code path by the CPU's
widest vector unit (AVX2, AVX-512, AMX), each with its own order of additions. Early differences of 1e-7
grow through training, enough to move a verdict. So every run of a study:

- computes on **one torch thread** (the sweep pins it in each run, :func:`mtlkit.study.start` in the kernel);
- uses the **AVX2 code path** of all three kernel libraries (:data:`PORTABLE_KERNELS`), which every x86 CPU
  since 2013 has: MKL's conditional numerical reproducibility mode ``MKL_CBWR=AVX2``, oneDNN capped at AVX2,
  and PyTorch's ATen kernels dispatched as on an AVX2 CPU. On this project's machines it costs no
  measurable time;
- records the host (:func:`host_info`) in its manifest, so a reader can tell whether bitwise equality with a
  committed run is to be expected: same torch, MKL and oneDNN builds, and a CPU with AVX2.

The caps are read by the libraries on their first computation, so :func:`use_portable_kernels` must run before
any tensor arithmetic in the process (importing torch is fine); :func:`host_info` reports the code path that
was actually taken (``cpu_capability``).
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

PORTABLE_KERNELS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
"""Environment variables that fix the kernels' code path to AVX2 (a value already set by the user is kept)."""

VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "neon",
    "asimd",
    "sve",
)
"""The CPU flags that decide which kernels a library may choose (x86 and ARM)."""


def use_portable_kernels() -> dict[str, str]:
    """Set :data:`PORTABLE_KERNELS` in this process's environment (kept where already set, and inherited by
    every worker process started afterwards) and turn on PyTorch's deterministic algorithms where it has
    them; returns the values in force."""
    for name, value in PORTABLE_KERNELS.items():
        os.environ.setdefault(name, value)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = (
        False  # NaN-filling every empty tensor adds no determinism
    )
    return {name: os.environ[name] for name in PORTABLE_KERNELS}


def _cpu() -> tuple[str, list[str]]:
    """The CPU's model name and its vector extensions among :data:`VECTOR_FLAGS` (from ``/proc/cpuinfo``
    on Linux; the model from :mod:`platform` and no flags elsewhere)."""
    info = Path("/proc/cpuinfo")
    model, flags = platform.processor() or platform.machine(), set()
    if info.is_file():
        text = info.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        model = found.group(1).strip() if found else model
        listed = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.MULTILINE)
        flags = set(listed.group(1).split()) if listed else set()
    return model, [f for f in VECTOR_FLAGS if f in flags]


def _builds() -> dict[str, str | None]:
    """The BLAS and oneDNN builds torch was compiled with (from ``torch.__config__.show()``)."""
    shown = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", shown)
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", shown)
    onednn = re.search(r"MKL-DNN (v[\w.]+)", shown)
    return {
        "blas": (blas.group(1) if blas else None) if not mkl else f"mkl {mkl.group(1)}",
        "onednn": onednn.group(1) if onednn else None,
    }


def host_info() -> dict[str, object]:
    """What a reader needs to tell whether a run's numbers can be bitwise equal to another's: the CPU model
    and vector extensions, the kernels' code path in force, the thread count, the kernel libraries' builds
    and the caps of :data:`PORTABLE_KERNELS`."""
    model, flags = _cpu()
    return {
        "cpu": model,
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "vector_extensions": flags,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        **_builds(),
        "kernel_caps": {name: os.environ.get(name) for name in PORTABLE_KERNELS},
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
