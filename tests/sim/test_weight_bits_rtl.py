"""The 4-bit digits net on the engine RTL with the iCEBreaker plan (``-m rtl``): 4 lanes a word,
8-bit bias fields, SPRAM; per-layer spike trains, counts, classes and cycle counts equal golden
and the cycle model."""

import numpy as np
import pytest

from hw.fixed import Q8_8
from hw.models import load_default_model
from hw.quantize import set_weight_bits
from sim.golden import run_golden
from sim.tb.engine_cases import check_against_golden
from sw.training.data import load_digits_data

pytestmark = pytest.mark.rtl


def test_4bit_digits_on_the_rtl():
    from sim.tb.network import _quantize_and_plan, run_rtl

    net = set_weight_bits(load_default_model(), 4)
    x = load_digits_data()[1].numpy().astype(np.float64)[:20]
    qnet, plan = _quantize_and_plan(net, Q8_8, "icebreaker")
    assert [l.pack for l in plan.layers] == [4, 4, 2] and plan.uses_spram
    rtl = run_rtl(net, x, trace=True)
    check_against_golden(plan, qnet, rtl, run_golden(qnet, x, record=True, progress=False))
