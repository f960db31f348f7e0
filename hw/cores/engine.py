"""``hw.cores.engine``: the network core a plan runs on (Q8.8 engine or SC engine)."""

from __future__ import annotations

from typing import Any

__all__ = ["core_for"]


def core_for(plan: Any, banks: int = 1) -> Any:
    """``hw.cores.sc_network.SCNetworkCore`` for an ``SCPlan`` (``plan.arith == "sc"``),
    ``hw.cores.network.NetworkCore`` otherwise; both have the same ports."""
    if getattr(plan, "arith", "q8.8") == "sc":
        from hw.cores.sc_network import SCNetworkCore

        return SCNetworkCore(plan, banks=banks)
    from hw.cores.network import NetworkCore

    return NetworkCore(plan, banks=banks)
