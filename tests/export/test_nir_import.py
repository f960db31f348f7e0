"""``from_nir`` on hand-built graphs: every primitive against a direct NIR simulation, and errors.

``nir_reference`` below simulates a NIR chain straight from the NIR equations
(forward Euler with step dt, currents before voltages, threshold v > v_thr,
reset) node by node, without the importer's folding of gains, leaks,
thresholds and pools into the weights; the imported network evaluated by
``sim.golden.simulate_float`` must give the same spikes.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hw.ir import Conv2d, Dense, Neuron
from sim.golden import simulate_float
from sw.export.nir import NIRImportError, from_nir
from sw.training.equations import CELL_EQUATIONS, NEURON_EQUATIONS

T = 12
rng = np.random.default_rng(0)


def chain(*nodes: tuple[str, nir.NIRNode], metadata: dict | None = None,
          type_check: bool = True) -> nir.NIRGraph:
    names = [n for n, _ in nodes]
    return nir.NIRGraph(nodes=dict(nodes), edges=list(zip(names[:-1], names[1:])),
                        metadata=metadata or {}, type_check=type_check)


def f32(*shape, scale=1.0, loc=0.0) -> np.ndarray:
    return (loc + scale * rng.normal(size=shape)).astype(np.float32)


def full(shape, value) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def nir_reference(graph: nir.NIRGraph, x: np.ndarray, steps: int, dt: float) -> np.ndarray:
    """Spike counts of a NIR chain (subtractive reset), the same input every step."""
    order = ["input"]
    nxt = dict(graph.edges)
    while order[-1] != "output":
        order.append(nxt[order[-1]])
    t64 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    state: dict[str, dict[str, torch.Tensor]] = {}
    counts = 0
    for _ in range(steps):
        h = t64(x)
        for name in order[1:-1]:
            n = graph.nodes[name]
            st = state.setdefault(name, {})
            if isinstance(n, nir.Affine):
                h = h @ t64(n.weight).T + t64(n.bias)
            elif isinstance(n, nir.Linear):
                h = h @ t64(n.weight).T
            elif isinstance(n, nir.Scale):
                h = h * t64(n.scale)
            elif isinstance(n, nir.Flatten):
                h = torch.flatten(h, n.start_dim + 1, n.end_dim if n.end_dim < 0 else n.end_dim + 1)
            elif isinstance(n, nir.Conv2d):
                pair = lambda v: tuple(int(a) for a in np.broadcast_to(np.atleast_1d(v), (2,)))  # noqa: E731
                h = F.conv2d(h, t64(n.weight), t64(n.bias), stride=pair(n.stride),
                             padding=pair(n.padding), dilation=pair(n.dilation),
                             groups=int(n.groups))
            elif isinstance(n, (nir.AvgPool2d, nir.SumPool2d)):
                k = int(np.atleast_1d(n.kernel_size)[0])
                h = F.avg_pool2d(h, k, int(np.atleast_1d(n.stride)[0]))
                h = h * k * k if isinstance(n, nir.SumPool2d) else h
            elif isinstance(n, nir.Threshold):
                h = (h > t64(n.threshold)).double()
            elif isinstance(n, (nir.LIF, nir.IF, nir.CubaLIF)):
                v = st.get("v", torch.zeros_like(h))
                if isinstance(n, nir.LIF):
                    v = v + dt / t64(n.tau) * (t64(n.v_leak) - v + t64(n.r) * h)
                elif isinstance(n, nir.IF):
                    v = v + dt * t64(n.r) * h
                else:
                    i = st.get("i", torch.zeros_like(h))
                    i = i + dt / t64(n.tau_syn) * (-i + t64(n.w_in) * h)
                    v = v + dt / t64(n.tau_mem) * (t64(n.v_leak) - v + t64(n.r) * i)
                    st["i"] = i
                spike = (v > t64(n.v_threshold)).double()
                st["v"] = v - spike * t64(n.v_threshold)
                h = spike
            else:
                raise AssertionError(f"reference does not know {type(n).__name__}")
        counts = counts + h
    return counts.reshape(len(x), -1).numpy().astype(np.int64)


def check_against_reference(graph: nir.NIRGraph, x: np.ndarray, dt: float) -> None:
    ir = from_nir(graph, timesteps=T, dt=dt)
    ref = nir_reference(graph, x, T, dt)
    ours = simulate_float(ir, x.reshape(len(x), -1), progress=False).spike_counts
    assert ref.sum() > 0 and ref.min() < T, "vacuous case: silent or saturated"
    assert float(np.mean(np.all(ours == ref, axis=1))) >= 0.99


# -- neuron primitives ---------------------------------------------------------------
def test_lif_with_per_neuron_gain_leak_and_threshold():
    dt, n = 1e-3, 7
    graph = chain(("input", nir.Input(np.array([5]))),
                  ("fc", nir.Affine(f32(n, 5), f32(n, scale=0.1))),
                  ("lif", nir.LIF(tau=full(n, 4e-3), r=f32(n, scale=0.3, loc=1.5),
                                  v_leak=f32(n, scale=0.2), v_threshold=f32(n, scale=0.2, loc=0.8),
                                  v_reset=full(n, 0))),
                  ("output", nir.Output(np.array([n]))))
    ir = from_nir(graph, timesteps=T, dt=dt)
    p = ir.layers[0].neuron.params
    assert ir.layers[0].neuron.kind == "lif" and p["beta"] == pytest.approx(0.75)
    assert p["threshold"] == 1.0  # per-neuron thresholds normalised into the weights
    assert ir.layers[0].neuron.equations == CELL_EQUATIONS["lif"].text
    check_against_reference(graph, rng.random((200, 5)), dt)


def test_if_threshold_and_scale_chain():
    dt = 1e-4
    graph = chain(("input", nir.Input(np.array([6]))),
                  ("scale", nir.Scale(f32(6, scale=0.3, loc=1.0))),
                  ("fc", nir.Linear(f32(8, 6, scale=0.8))),
                  ("if", nir.IF(r=full(8, 0.5 / dt), v_threshold=full(8, 0.7), v_reset=full(8, 0))),
                  ("fc2", nir.Affine(f32(4, 8), f32(4, scale=0.2))),
                  ("thr", nir.Threshold(full(4, 0.3))),
                  ("output", nir.Output(np.array([4]))))
    ir = from_nir(graph, timesteps=T, dt=dt)
    assert [l.neuron.kind for l in ir.layers] == ["if", "lif"]
    assert ir.layers[1].neuron.params["beta"] == 0.0  # Threshold: stateless
    check_against_reference(graph, rng.random((200, 6)), dt)


def test_cubalif_with_w_in_and_r():
    dt, n = 1e-4, 6
    graph = chain(("input", nir.Input(np.array([4]))),
                  ("fc", nir.Linear(f32(n, 4, scale=2.0))),
                  ("cuba", nir.CubaLIF(tau_syn=full(n, 2.5e-4), tau_mem=full(n, 5e-4),
                                       r=f32(n, scale=0.5, loc=3.0), v_leak=full(n, 0),
                                       v_threshold=full(n, 1.0), v_reset=full(n, 0),
                                       w_in=f32(n, scale=0.3, loc=2.0))),
                  ("output", nir.Output(np.array([n]))))
    ir = from_nir(graph, timesteps=T, dt=dt)
    p = ir.layers[0].neuron.params
    assert ir.layers[0].neuron.kind == "synaptic"
    assert (p["alpha"], p["beta"]) == (pytest.approx(0.6), pytest.approx(0.8))
    check_against_reference(graph, rng.random((200, 4)), dt)


# -- linear chains: pools folded into convolutions, dense fallback ---------------------
@pytest.mark.parametrize("pool", [nir.SumPool2d, nir.AvgPool2d])
def test_pools_fold_into_convolutions(pool):
    dt = 1e-4
    lif = lambda shape, th: nir.LIF(tau=full(shape, 1e-3), r=full(shape, 10.0),  # noqa: E731
                                    v_leak=full(shape, 0), v_threshold=full(shape, th),
                                    v_reset=full(shape, 0))
    k = lambda: pool(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),  # noqa: E731
                     padding=np.array([0, 0]))
    graph = chain(("input", nir.Input(np.array([2, 8, 8]))),
                  ("c1", nir.Conv2d((8, 8), f32(3, 2, 3, 3), 1, 1, 1, 1, f32(3, scale=0.1))),
                  ("p1", k()),  # conv -> pool -> neurons: pool of the current
                  ("n1", lif((3, 4, 4), 0.5)),
                  ("p2", k()),  # neurons -> pool -> conv: pool of the spikes
                  ("c2", nir.Conv2d((2, 2), f32(4, 3, 2, 2), 1, 0, 1, 1, f32(4, scale=0.1))),
                  ("n2", lif((4, 1, 1), 0.3)),
                  ("flat", nir.Flatten(input_type={"input": np.array([4, 1, 1])}, start_dim=0)),
                  ("fc", nir.Affine(f32(3, 4), f32(3, scale=0.1))),
                  ("n3", lif((3,), 0.3)),
                  ("output", nir.Output(np.array([3]))))
    ir = from_nir(graph, timesteps=T, dt=dt)
    assert [type(l) for l in ir.layers] == [Conv2d, Conv2d, Dense]
    assert ir.layers[0].stride == 2 and ir.layers[0].weight.shape == (3, 2, 4, 4)
    assert ir.layers[1].stride == 2 and ir.layers[1].weight.shape == (4, 3, 4, 4)
    check_against_reference(graph, rng.random((100, 2, 8, 8)), dt)


def test_pool_folding_equals_the_chain_for_every_geometry():
    """[pool] conv [pool] folded into one convolution == the chain evaluated node by node."""
    from itertools import product

    from sw.export.nir import linear

    eq = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", eq.text, eq.states, eq.inputs, dict(eq.params))
    pools = [None, nir.SumPool2d, nir.AvgPool2d]
    n_folded = 0
    for pre, post, k, s, pad, p in product(pools, pools, [2, 3], [1, 2], [0, 1], [2, 3]):
        mk = lambda P: P(kernel_size=np.array([p, p]), stride=np.array([p, p]),  # noqa: E731
                         padding=np.array([0, 0]))
        steps = ([("pre", mk(pre))] if pre else []) + [
            ("c", nir.Conv2d(None, f32(3, 2, k, k), s, pad, 1, 1, f32(3)))] + \
            ([("post", mk(post))] if post else [])
        try:
            traced = linear.trace(steps, (2, 12, 12))
        except NIRImportError:
            continue  # geometry too small for the kernel
        n_out = int(np.prod(traced[-1].out_shape))
        layer = linear.build_layer("L", traced, (2, 12, 12), neuron, np.ones(n_out),
                                   np.zeros(n_out))
        x = rng.random((3, 2, 12, 12))
        ref = linear.apply_segment(traced, x).reshape(3, -1)
        if isinstance(layer, Conv2d):
            n_folded += 1
            got = F.conv2d(torch.as_tensor(x), torch.as_tensor(layer.weight),
                           torch.as_tensor(layer.bias), stride=layer.stride,
                           padding=layer.padding).reshape(3, -1).numpy()
        else:
            got = x.reshape(3, -1) @ layer.weight.T + layer.bias
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9,
                                   err_msg=f"pre={pre} post={post} k={k} s={s} pad={pad} p={p}")
    assert n_folded >= 100  # most geometries stay convolutions


def test_dilated_convolution_becomes_dense():
    dt = 1e-4
    graph = chain(("input", nir.Input(np.array([1, 7, 7]))),
                  ("c", nir.Conv2d((7, 7), f32(2, 1, 3, 3), 1, 0, 2, 1, f32(2, scale=0.1))),
                  ("n", nir.LIF(tau=full((2, 3, 3), 1e-3), r=full((2, 3, 3), 10.0),
                                v_leak=full((2, 3, 3), 0), v_threshold=full((2, 3, 3), 0.4),
                                v_reset=full((2, 3, 3), 0))),
                  ("output", nir.Output(np.array([2, 3, 3]))))
    ir = from_nir(graph, timesteps=T, dt=dt)
    assert isinstance(ir.layers[0], Dense) and ir.layers[0].weight.shape == (18, 49)
    check_against_reference(graph, rng.random((100, 1, 7, 7)), dt)


def test_input_straight_into_neurons_gets_identity_weights():
    graph = chain(("input", nir.Input(np.array([3]))),
                  ("if", nir.IF(r=full(3, 1e4), v_threshold=full(3, 0.5), v_reset=full(3, 0))),
                  ("output", nir.Output(np.array([3]))))
    ir = from_nir(graph)
    np.testing.assert_allclose(ir.layers[0].weight, np.eye(3))
    check_against_reference(graph, rng.random((50, 3)), 1e-4)


# -- errors name the node and what is supported ----------------------------------------
def _lif(n):
    return nir.LIF(tau=full(n, 1e-3), r=full(n, 10.0), v_leak=full(n, 0),
                   v_threshold=full(n, 1.0), v_reset=full(n, 0))


def test_unknown_primitive_is_named():
    graph = chain(("input", nir.Input(np.array([3]))), ("wait", nir.Delay(full(3, 2.0))),
                  ("lif", _lif(3)), ("output", nir.Output(np.array([3]))))
    with pytest.raises(NIRImportError, match=r"'wait'.*Delay.*supported: Input, Output, Affine"):
        from_nir(graph)


def test_non_spiking_readout_is_refused():
    graph = chain(("input", nir.Input(np.array([3]))), ("fc", nir.Linear(f32(2, 3))),
                  ("readout", nir.LI(tau=full(2, 1e-3), r=full(2, 1.0), v_leak=full(2, 0))),
                  ("output", nir.Output(np.array([2]))))
    with pytest.raises(NIRImportError, match=r"'readout'.*LI is a non-spiking"):
        from_nir(graph)


def test_trailing_linear_node_is_refused():
    graph = chain(("input", nir.Input(np.array([3]))), ("fc", nir.Linear(f32(2, 3))),
                  ("lif", _lif(2)), ("head", nir.Linear(f32(4, 2))),
                  ("output", nir.Output(np.array([4]))))
    with pytest.raises(NIRImportError, match=r"'head'.*after the last neuron population"):
        from_nir(graph)


def test_branches_and_foreign_cycles_are_refused():
    nodes = {"input": nir.Input(np.array([3])), "a": nir.Linear(f32(2, 3)),
             "b": nir.Linear(f32(2, 3)), "lif": _lif(2), "output": nir.Output(np.array([2]))}
    fan = nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("input", "b"), ("a", "lif"),
                                           ("b", "lif"), ("lif", "output")])
    with pytest.raises(NIRImportError, match=r"'input'.*2 successors.*no branches"):
        from_nir(fan)
    nodes = {"input": nir.Input(np.array([3])), "a": nir.Linear(f32(2, 3)), "lif": _lif(2),
             "w1": nir.Linear(f32(2, 2)), "w2": nir.Linear(f32(2, 2)),
             "output": nir.Output(np.array([2]))}
    loop = nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("a", "lif"), ("lif", "w1"),
                                            ("w1", "w2"), ("w2", "lif"), ("lif", "output")])
    with pytest.raises(NIRImportError, match=r"cycle .*w1 -> w2.*self-loop"):
        from_nir(loop)


def test_recurrent_self_loop_becomes_recurrent_lif():
    nodes = {"input": nir.Input(np.array([3])), "fc": nir.Affine(f32(4, 3), f32(4)),
             "lif": _lif(4), "rec": nir.Affine(f32(4, 4), f32(4)),
             "output": nir.Output(np.array([4]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"),
                                             ("rec", "lif"), ("lif", "output")])
    ir = from_nir(graph)
    layer = ir.layers[0]
    assert layer.neuron.kind == "recurrent_lif"
    # gain dt*r/tau = 1 here; the recurrent bias arrives every step like the input bias
    np.testing.assert_allclose(layer.recurrent_weight, nodes["rec"].weight, rtol=1e-6)
    np.testing.assert_allclose(layer.bias, nodes["fc"].bias + nodes["rec"].bias, rtol=1e-6)


def test_parameter_errors_name_the_node():
    def graph_with(lif):
        return chain(("input", nir.Input(np.array([3]))), ("fc", nir.Linear(f32(3, 3))),
                     ("pop", lif), ("output", nir.Output(np.array([3]))))

    mixed_tau = nir.LIF(tau=np.array([1e-3, 2e-3, 1e-3], np.float32), r=full(3, 1.0),
                        v_leak=full(3, 0), v_threshold=full(3, 1.0), v_reset=full(3, 0))
    with pytest.raises(NIRImportError, match=r"'pop'.*dt/tau differs between neurons"):
        from_nir(graph_with(mixed_tau))
    with pytest.raises(NIRImportError, match=r"'pop'.*unstable.*check dt"):
        from_nir(graph_with(_lif(3)), dt=5e-3)
    reset_to_minus = nir.LIF(tau=full(3, 1e-3), r=full(3, 1.0), v_leak=full(3, 0),
                             v_threshold=full(3, 1.0), v_reset=full(3, -0.5))
    with pytest.raises(NIRImportError, match=r"'pop'.*v_reset != 0.*reset='zero'"):
        from_nir(graph_with(reset_to_minus))
    with pytest.raises(ValueError, match="reset must be one of"):
        from_nir(graph_with(_lif(3)), reset="soft")


def test_reset_variants_use_their_kind():
    graph = chain(("input", nir.Input(np.array([3]))), ("fc", nir.Linear(f32(3, 3))),
                  ("pop", _lif(3)), ("output", nir.Output(np.array([3]))))
    for reset, kind in (("subtract", "lif"), ("zero", "lif_hard"), ("delayed", "lif_delayed")):
        neuron = from_nir(graph, reset=reset).layers[0].neuron
        assert neuron.kind == kind
        assert neuron.equations == NEURON_EQUATIONS[kind].text


def test_bad_paths(tmp_path):
    with pytest.raises(NIRImportError, match="no such file"):
        from_nir(tmp_path / "missing.nir")
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(NIRImportError, match="cannot be read as NIR"):
        from_nir(junk)
    with pytest.raises(TypeError, match="nir.NIRGraph or a path"):
        from_nir(42)


def test_file_metadata_supplies_defaults(tmp_path):
    graph = chain(("input", nir.Input(np.array([3]))), ("fc", nir.Linear(f32(3, 3))),
                  ("pop", _lif(3)), ("output", nir.Output(np.array([3]))),
                  metadata={"dt": 2e-4, "timesteps": 9, "encoding": "rate"})
    path = tmp_path / "g.nir"
    nir.write(path, graph)
    net = from_nir(path)
    assert (net.timesteps, net.encoding, net.name) == (9, "rate", "g")
    assert net.layers[0].neuron.params["beta"] == pytest.approx(0.8)
    assert from_nir(path, timesteps=4, dt=1e-4).timesteps == 4


# -- fuzz: malformed graphs raise NIRImportError (or ValueError for bad arguments), never crash
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def random_chain(draw):
    n_in = draw(st.integers(1, 5))
    nodes = [("input", nir.Input(np.array([n_in])))]
    width = n_in
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["affine", "linear", "scale", "lif", "if", "cuba", "thr", "li"]))
        n = draw(st.integers(1, 4))
        w_in = draw(st.sampled_from([width, width + 1]))  # sometimes a shape mismatch
        p = lambda: np.asarray(draw(st.lists(  # noqa: E731
            st.sampled_from([0.0, -1.0, 1e-4, 1e-3, 0.5, 1.0, 2.0, np.inf]),
            min_size=draw(st.sampled_from([1, n])), max_size=n)), dtype=np.float32)
        try:
            if kind == "affine":
                node = nir.Affine(f32(n, w_in), f32(n))
            elif kind == "linear":
                node = nir.Linear(f32(n, w_in))
            elif kind == "scale":
                node = nir.Scale(p())
            else:
                a = p()
                if kind == "lif":
                    node = nir.LIF(tau=a, r=a.copy(), v_leak=np.zeros_like(a), v_threshold=a.copy(),
                                   v_reset=np.zeros_like(a))
                elif kind == "if":
                    node = nir.IF(r=a, v_threshold=a.copy(), v_reset=np.zeros_like(a))
                elif kind == "cuba":
                    node = nir.CubaLIF(tau_syn=a, tau_mem=a.copy(), r=a.copy(),
                                       v_leak=np.zeros_like(a), v_threshold=a.copy(),
                                       v_reset=np.zeros_like(a), w_in=a.copy())
                elif kind == "thr":
                    node = nir.Threshold(a)
                else:
                    node = nir.LI(tau=a, r=a.copy(), v_leak=np.zeros_like(a))
        except (AssertionError, ValueError):
            continue  # nir itself refuses to build the node
        nodes.append((f"n{i}", node))
        if kind in ("affine", "linear"):
            width = n
    nodes.append(("output", nir.Output(np.array([width]))))
    return chain(*nodes, type_check=False)  # nir's own check would refuse the mismatches


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=random_chain(), dt=st.sampled_from([1e-4, 1e-3, 1.0]),
       reset=st.sampled_from(["subtract", "zero"]))
def test_fuzzed_graphs_fail_only_with_named_errors(graph, dt, reset):
    try:
        net = from_nir(graph, dt=dt, reset=reset)
    except NIRImportError as exc:
        assert exc.node in str(exc) and exc.node
        return
    assert net.validate() is net
