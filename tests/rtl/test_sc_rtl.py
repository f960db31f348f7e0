"""SC dot-product unit in the RTL simulator (cocotb 2): counts == ``sim.sc`` bit for bit.

Every configuration (LFSR / Sobol x AND / XNOR) runs 10 000 random vectors of
random length 1..64 (the generators run free between vectors, with reseeds in
between), with the threshold extremes 0 and 2**width mixed in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hw.cores.sc import sc_unit_for
from sim.sc.bitstream import sc_dot_counts
from sim.tb.runner import OPTIMIZE_CYCLES, run_cocotb
from sim.tb.verilog_cache import component_verilog

pytestmark = pytest.mark.rtl

N_VECTORS = 10_000
LANES, WIDTH, MAX_LENGTH = 8, 16, 64


def _vectors(unit, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    full = 1 << WIDTH
    x_thr = rng.integers(0, full + 1, (N_VECTORS, LANES))
    w_thr = rng.integers(0, full + 1, (N_VECTORS, LANES))
    for thr in (x_thr, w_thr):  # spikes and empty weights: all-one / all-zero streams
        thr[rng.random(thr.shape) < 0.1] = full
        thr[rng.random(thr.shape) < 0.1] = 0
    length = rng.integers(1, MAX_LENGTH + 1, N_VECTORS)
    reseed = (rng.random(N_VECTORS) < 0.01).astype(np.int64)
    reseed[0] = 0
    expected = np.zeros(N_VECTORS, dtype=np.int64)
    pos = 0
    for k in range(N_VECTORS):
        pos = 0 if reseed[k] else pos
        expected[k] = sc_dot_counts(x_thr[k], w_thr[k], sng_x=unit.sng_x, sng_w=unit.sng_w,
                                    length=int(length[k]), start=pos, mode=unit.mode)[0]
        pos += int(length[k])
    return dict(x_thr=x_thr, w_thr=w_thr, length=length, reseed=reseed, expected=expected,
                meta_width=np.asarray(WIDTH))


@pytest.mark.parametrize("sng", ["lfsr", "sobol"])
@pytest.mark.parametrize("mode", ["unipolar", "bipolar"])
def test_sc_dot_product_bit_exact(sng: str, mode: str, tmp_path: Path) -> None:
    unit = sc_unit_for(LANES, width=WIDTH, sng=sng, mode=mode, base_seed=11, max_length=MAX_LENGTH)
    vec = _vectors(unit, seed=["lfsr", "sobol"].index(sng) * 2 + ["unipolar", "bipolar"].index(mode))
    assert vec["expected"].min() < 20 and vec["expected"].max() > 200  # counts span the range
    np.savez(tmp_path / "vectors.npz", **vec)
    (tmp_path / "sc_dot.v").write_text(component_verilog(sc_unit_for, LANES, width=WIDTH, sng=sng, mode=mode,
                                                         base_seed=11, max_length=MAX_LENGTH, name="sc_dot"))
    run_cocotb(verilog_sources=[tmp_path / "sc_dot.v"], toplevel="sc_dot", test_module="sim.tb.sc_tb",
               ports_only=True, build_dir=tmp_path / "sim",
               extra_env={"SC_TB_VECTORS": str(tmp_path / "vectors.npz")},
               optimize=int(vec["length"].sum()) >= OPTIMIZE_CYCLES)
