"""Host link on Icarus (cocotb): the host driver (sw.host) talks to the simulated UART of
``hw.cores.host_io.HostInterface`` through a pseudo-terminal."""

import numpy as np
import pytest

from hw.cores.plan import plan_quantized
from hw.fixed import Q8_8
from hw.ir import Dense, Network, Neuron
from hw.quantize import quantize_network
from sim.golden import run_golden
from sim.tb.network import run_host_session
from sw.host import ProtocolError, SNNDevice
from sw.training.equations import CELL_EQUATIONS

pytestmark = pytest.mark.rtl


def _small_network(seed=4):
    rng = np.random.default_rng(seed)
    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    return Network([Dense("a", rng.normal(0.3, 0.9, (6, 5)), rng.normal(0, 0.3, 6), neuron),
                    Dense("b", rng.normal(0.3, 0.9, (3, 6)), rng.normal(0, 0.3, 3), neuron)],
                   (5,), timesteps=6)


def test_host_driver_against_simulated_uart(tmp_path):
    """sw.host.SNNDevice over a pty bridged to the RTL's UART pins: info, load, inference."""
    net = _small_network()
    qnet = quantize_network(net, Q8_8)
    # put a bank in "SPRAM" so the device needs a load before it answers samples
    plan = plan_quantized(qnet, lanes=[2, 2], preload=False)
    assert plan.needs_load
    x = np.random.default_rng(1).uniform(0, 1, (3, 5))
    golden = run_golden(qnet, x, progress=False)

    def session(port):
        with SNNDevice(port, timeout=60) as dev:
            before = dev.info()
            with pytest.raises(ProtocolError, match="not loaded"):
                dev.infer(x[0], Q8_8)
            sent = dev.load_weights(plan)
            after = dev.info()
            replies = [dev.infer(xi, Q8_8) for xi in x]
        return before, sent, after, replies

    before, sent, after, replies = run_host_session(plan, session, build_dir=tmp_path)
    assert (before.n_input, before.n_output, before.timesteps) == (5, 3, 6)
    assert before.needs_load and not before.loaded and after.loaded
    assert sent == sum(len(w) for _, w in plan.load_image(only_needed=True))
    np.testing.assert_array_equal([r.spike_counts for r in replies], golden.spike_counts)
    np.testing.assert_array_equal([r.prediction for r in replies], golden.predictions)
    assert all(r.cycles > 0 for r in replies)
    assert golden.spike_counts.sum() > 0
