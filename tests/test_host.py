"""The host a run computes on: the kernels' code path is capped, and the manifest says what the machine was."""

import os
import subprocess
import sys

from mtlkit.host import PORTABLE_KERNELS, host_info

SCRIPT = """
import hashlib, torch
{setup}
torch.set_num_threads({threads})
g = torch.Generator().manual_seed(0)
a, b = torch.randn(300, 200, generator=g), torch.randn(200, 100, generator=g)
x = torch.nn.functional.log_softmax(a @ b, 1).sum(0)
print(torch.backends.cpu.get_cpu_capability(), hashlib.sha256(x.numpy().tobytes()).hexdigest())
"""


def _run(setup: str, threads: int = 1) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_KERNELS}
    code = SCRIPT.format(setup=setup, threads=threads)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()


def test_the_caps_take_effect_when_set_after_importing_torch():
    """use_portable_kernels works from a notebook whose first cell imported torch before mtlkit: the same
    numbers as with the caps in the environment from the start."""
    late = _run("from mtlkit.host import use_portable_kernels; use_portable_kernels()")
    early = _run(f"import os; [os.environ.setdefault(k, v) for k, v in {PORTABLE_KERNELS!r}.items()]")
    assert late == early
    assert late[0] in ("AVX2", "DEFAULT")


def test_host_info_names_what_decides_bitwise_equality():
    info = host_info()
    assert {
        "cpu",
        "vector_extensions",
        "cpu_capability",
        "torch_threads",
        "blas",
        "onednn",
        "kernel_caps",
    } <= set(info)
    assert info["torch"].startswith("2.13.0")
    assert set(info["kernel_caps"]) == set(PORTABLE_KERNELS)
