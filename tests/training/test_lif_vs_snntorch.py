"""LIFCell (subtract reset) against snnTorch's Leaky(reset_delay=False), step by step.

The two definitions coincide while the post-reset membrane stays below
threshold: snnTorch then re-applies a reset from the previous step's
membrane, LIFCell does not (it subtracts exactly one threshold per spike, as
the equation text says).  Inputs are kept in a range where that holds.
"""

import pytest
import torch

import snntorch as snn  # test dependency (pip install .[test])

from sw.training import LIFCell  # noqa: E402


@pytest.mark.parametrize("beta,threshold,scale", [(0.9, 1.0, 0.6), (0.5, 0.5, 0.45),
                                                  (0.95, 2.0, 1.5)])
def test_same_spikes_and_membrane_as_snntorch(beta, threshold, scale):
    torch.manual_seed(0)
    T, B, N = 100, 8, 32
    x = torch.rand(T, B, N) * scale  # < threshold per step: post-reset v stays below threshold
    ours = LIFCell(beta=beta, threshold=threshold)
    ref = snn.Leaky(beta=beta, threshold=threshold, reset_mechanism="subtract", reset_delay=False)
    v, mem = None, ref.init_leaky()
    n_spikes = 0
    with torch.no_grad():
        for t in range(T):
            spk, v = ours(x[t], v)
            spk_ref, mem = ref(x[t], mem)
            assert torch.equal(spk, spk_ref), f"spikes differ at t={t}"
            assert torch.equal(v, mem), f"membrane differs at t={t}"
            n_spikes += int(spk.sum())
        spikes_seq, (v_seq,) = ours.forward_sequence(x)
    assert n_spikes > 0.05 * T * B * N
    assert spikes_seq.sum() == n_spikes
    assert torch.equal(v_seq, mem)


def test_documented_difference_beyond_the_range():
    """A single input of 2.5 thresholds: both spike and keep v = 1.5.  Next step
    LIFCell follows its equations (1.5 > 1: spike again, v = 0.5); snnTorch
    subtracts the previous step's reset before firing, so it stays silent and
    its membrane sits at 1.5 above threshold."""
    ours = LIFCell(beta=1.0, threshold=1.0)
    ref = snn.Leaky(beta=1.0, threshold=1.0, reset_mechanism="subtract", reset_delay=False)
    v, mem = None, ref.init_leaky()
    got, want = [], []
    with torch.no_grad():
        for x in (2.5, 0.0, 0.0):
            s, v = ours(torch.tensor([x]), v)
            sr, mem = ref(torch.tensor([x]), mem)
            got.append((s.item(), round(v.item(), 5)))
            want.append((sr.item(), round(mem.item(), 5)))
    assert got == [(1.0, 1.5), (1.0, 0.5), (0.0, 0.5)]
    assert want == [(1.0, 1.5), (0.0, 1.5), (0.0, 1.5)]
