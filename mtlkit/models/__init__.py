"""Models map ``x -> {task: output}``; sharing schemes decide which parameters tasks have in common."""

from mtlkit.models.sharing import HardSharing, SeparateNetworks, build_model

__all__ = ["HardSharing", "SeparateNetworks", "build_model"]
