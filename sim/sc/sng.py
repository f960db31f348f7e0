"""Stochastic number generators (SNGs): banks of LFSRs and Sobol sources.

The definitions live in :mod:`hw.cores.sc_numbers`, next to the gateware that
implements them (``hw.cores.sc``), so that ``hw/`` never imports ``sim/``
(docs/architecture.md, "Import rule").  This module re-exports every name,
private helpers included (``sim.sc.matvec`` uses ``_TABLE_MAX_WIDTH`` and
``_lfsr_period_table``), so existing ``from sim.sc.sng import ...`` lines keep
working and see the very same objects (one ``lru_cache`` per table).
"""

from __future__ import annotations

from hw.cores.sc_numbers import (  # noqa: F401  (re-exports)
    _TABLE_MAX_WIDTH,
    LFSR,
    LFSR_TAPS,
    SNG,
    SOBOL_DIMS,
    Sobol,
    _bits_to_states,
    _check_width,
    _lfsr_bits,
    _lfsr_period_table,
    derive_seeds,
    make_sng,
    sobol_direction_numbers,
    thresholds,
)

__all__ = [
    "LFSR_TAPS", "SOBOL_DIMS", "LFSR", "Sobol", "SNG", "make_sng",
    "derive_seeds", "thresholds",
]
