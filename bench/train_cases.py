"""Training-step time in five cases: this project vs snnTorch, SpikingJelly, Norse and BrainPy, one run.

Cases (LIF everywhere: beta 0.9 / SpikingJelly tau 10 with ``decay_input=False``,
threshold 1, subtract reset with the reset spike detached, ATan surrogate;
loss cross-entropy on the output spike counts; Adam lr 2e-3; T = 25):

  1. digits 64-128-128-10, static input (scikit-learn digits), batch 64
  2. the same, rate-encoded input (Bernoulli spikes, p = pixel value)
  3. 784-512-512-10, static input, batch 128
  4. the same, rate-encoded input
  5. seed 003's network (docs/training.md): 100 Poisson inputs (5 Hz) -> Linear -> exponential
     synapse (tau 10) -> LIF (tau 20, soft reset keeping its gradient, ReluGrad surrogate)
     -> Linear -> exponential readout (tau 10); T = 100, one fixed batch of 128, 4 hidden
     neurons, cross-entropy of the time-averaged readout, Adam 3e-3.  The spike train is a
     bool tensor for every variant (the seed's own code feeds BrainPy ``x > 0``; the
     project's ``SpikingSequential`` takes it as it is).  Variants: ``ours``
     (the docs' ``SpikingSequential``), ``ours-pyloops`` (the same with the fused scans'
     Python loops, ``scan_kernels.kernels_disabled``) and ``brainpy-jit`` (the seed's own
     brainstate/brainpy code: ``for_loop`` over T, ``grad`` and braintools' Adam inside one
     ``brainstate.transform.jit``; XLA on the CPU, one thread with ``--threads 1``).  BrainPy
     is a bench-only dependency (``pip install brainpy brainstate braintools brainunit jax``);
     ``--skip brainpy`` leaves it out.

The 784-wide input is synthetic and MNIST-like (a fresh 20 % of the pixels on, values
uniform in [0.5, 1]: mean ~0.15, as MNIST's ~0.13); there is no MNIST download here.
A pool of 8 batches (and, for the rate cases, their spike trains, drawn once) is made
before timing and is the same for every framework, so encoding is not timed and every
framework sees identical inputs.  All models start from the same weights (copied from the
project's ``SpikingNet``), so they begin with the same firing rates.

Variants timed per case (one step = forward + loss + ``zero_grad`` + backward + Adam step;
every torch variant uses torch's fused Adam, ``fused=True``):

  ours             ``SpikingNet(n_layers=2)`` with its fused LIF scans; a static batch goes
                   in as ``prepare_input`` makes it (an ``expand`` over T), so the first
                   layer is computed once -- what ``train_epoch`` does; spike input goes
                   through ``spike_linear`` (gather-add below 8 % density).
  snntorch         ``snn.Leaky`` step loop, every layer called per step (its tutorials'
                   code: layer 1 recomputed T times for a static input).
  snntorch-l1once  (static cases) the same loop with ``fc1(x)`` computed once, before it.
  sj               SpikingJelly multi-step (``step_mode='m'``) ``layer.Linear`` /
                   ``neuron.LIFNode`` ``Sequential``; a static input repeated over T
                   (``x.unsqueeze(0).repeat(T, 1, 1)``, its tutorials' code).  SpikingJelly
                   2.0 picks its CPU kernel itself (no cupy on a CPU).
  sj-l1once        (static cases) ``fc1(x)`` once, ``expand``-ed over T, then the rest of
                   the multi-step ``Sequential``.
  norse            Norse's ``LIFBoxCell`` step loop with ``reset_subtract``, every layer per
                   step (``_NorseNet``: the same dynamics through ``dt * tau_mem_inv`` and
                   scaled weights; SuperSpike surrogate).  A bench-only peer:
                   ``pip install --no-deps norse==1.1.0`` (its declared dependencies would
                   replace the CPU torch); ``--skip norse`` leaves it out.

Steps are interleaved: in each round every variant of the case runs one step (the order
rotating by one each round), so a shared, loaded machine slows all alike.  After
``--warmup`` rounds, ``--steps`` rounds are timed; the table shows the median ms/step
(mean in parentheses) and ``peer / ours`` of the medians (> 1: the project is faster).

Memory (on by default; ``--no-memory`` skips it): x ``(T=500, B=16, 512)``
-> ``Linear(512, 4096)`` -> LIF, forward + ``out.sum().backward()``, for the project's
``LIFCell.forward_sequence``, SpikingJelly's multi-step ``LIFNode``, snnTorch's step loop
and the ``Linear`` alone (the floor).  On a CPU neither ``torch.cuda`` memory stats nor
``tracemalloc`` (which does not see torch's allocator) can be used, so each measurement
runs in a fresh child process (``python bench/train_cases.py --_mem-child NAME``): after
building the layer and the input it resets the kernel's peak-resident-size counter
(writing ``5`` to ``/proc/self/clear_refs``), reads its resident set size ``VmRSS``, runs
forward+backward once and reads the peak ``VmHWM`` (``/proc/self/status``); the peak extra
memory is ``VmHWM - VmRSS_before``: what forward+backward touches (saved tensors,
gradients, temporaries; large tensors are ``mmap``-ed and given back on free, so the RSS
follows torch's allocations).  A plain ``getrusage`` ``ru_maxrss`` delta does not work
here: importing torch/sklearn already leaves a peak above what this workload adds (a first
version of this bench measured nothing but that).  Where ``clear_refs`` cannot be written,
the child falls back to ``ru_maxrss - rss_before`` and the figure is marked ``<=`` (a lower
bound at best).  Each child runs ``--mem-repeats`` times (alternating); the median is shown.

    python bench/train_cases.py                     # all five cases, 1 thread
    python bench/train_cases.py --quick             # smoke run (few steps)
    python bench/train_cases.py --cases 1 3 --skip snntorch --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sw.training import LIFCell, SpikingNet, load_digits_data, prepare_input  # noqa: E402

T, LR, BETA, TAU, POOL = 25, 2e-3, 0.9, 10.0, 8

CASES = {
    1: dict(sizes=(64, 128, 128, 10), batch=64, rate=False, data="digits"),
    2: dict(sizes=(64, 128, 128, 10), batch=64, rate=True, data="digits"),
    3: dict(sizes=(784, 512, 512, 10), batch=128, rate=False, data="mnist-like"),
    4: dict(sizes=(784, 512, 512, 10), batch=128, rate=True, data="mnist-like"),
    5: dict(sizes=(100, 4, 2), batch=128, rate=True, data="seed-003 Poisson 5 Hz", seed003=True),
}
SEED003_T, SEED003_LR = 100, 3e-3
NORSE_PACKAGE = "norse==1.1.0"
BRAINPY_PACKAGES = "brainpy==2.8.2 brainstate==0.5.4 braintools==0.3.0 brainunit==0.5.2 jax==0.10.2"


def _batches(case: dict, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``POOL`` batches ``(x, y)``: x ``(B, n)`` static, or ``(T, B, n)`` Bernoulli spikes."""
    g = torch.Generator().manual_seed(seed)
    B, n = case["batch"], case["sizes"][0]
    if case["data"] == "digits":
        X, _, Y, _ = load_digits_data()
        idx = torch.randperm(len(X), generator=g)[: B * POOL]
        xs, ys = X[idx].split(B), Y[idx].split(B)
    else:
        on = torch.rand(B * POOL, n, generator=g) < 0.2
        X = torch.where(on, 0.5 + 0.5 * torch.rand(B * POOL, n, generator=g), torch.zeros(()))
        xs, ys = X.split(B), torch.randint(0, 10, (B * POOL,), generator=g).split(B)
    out = []
    for x, y in zip(xs, ys):
        if case["rate"]:
            x = torch.bernoulli(x.unsqueeze(0).expand(T, *x.shape).contiguous(), generator=g)
        out.append((x.contiguous(), y))
    return out


# -- models -------------------------------------------------------------------------------
def _ours(sizes) -> nn.Module:
    return SpikingNet(sizes[0], sizes[1], sizes[-1], n_layers=len(sizes) - 2, beta=BETA)


def _copy_linears(dst: list[nn.Linear], src: list[nn.Linear]) -> None:
    with torch.no_grad():
        for d, s in zip(dst, src):
            d.weight.copy_(s.weight)
            d.bias.copy_(s.bias)


class _SnnTorchNet(nn.Module):
    def __init__(self, sizes, layer1_once: bool):
        import snntorch as snn
        from snntorch import surrogate

        super().__init__()
        grad = surrogate.atan()
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lifs = nn.ModuleList(snn.Leaky(beta=BETA, threshold=1.0, spike_grad=grad,
                                            reset_mechanism="subtract") for _ in sizes[1:])
        self.layer1_once = layer1_once

    def forward(self, x):
        """x ``(B, n)`` static (repeated every step) or ``(T, B, n)`` spikes -> counts."""
        mems = [lif.init_leaky() for lif in self.lifs]
        static = x.dim() == 2
        cur1 = self.fcs[0](x) if static and self.layer1_once else None
        counts = 0
        for t in range(T):
            h = x if static else x[t]
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                cur = cur1 if (i == 0 and cur1 is not None) else fc(h)
                h, mems[i] = lif(cur, mems[i])
            counts = counts + h
        return counts


class _NorseNet(nn.Module):
    """Norse's closest model: ``LIFBoxCell`` (a LIF without a current term) with
    ``reset_subtract``; ``dt * tau_mem_inv = 1 - beta`` and the Linear weights scaled by
    ``1 / (1 - beta)`` make ``v[t] = beta v[t-1] + W x[t] + b`` as in the other frameworks.
    Its surrogate is Norse's default SuperSpike (``alpha`` 100; Norse has no ATan), and the
    reset is not detached.  A step loop, every layer per step (Norse's tutorials' code)."""

    def __init__(self, sizes):
        import norse.torch as nt
        from norse.torch.functional.reset import reset_subtract

        super().__init__()
        dt = 1e-3
        p = nt.LIFBoxParameters(tau_mem_inv=torch.as_tensor((1.0 - BETA) / dt),
                                v_leak=torch.as_tensor(0.0), v_th=torch.as_tensor(1.0),
                                v_reset=torch.as_tensor(0.0), method="super",
                                alpha=torch.as_tensor(100.0), reset_method=reset_subtract)
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lifs = nn.ModuleList(nt.LIFBoxCell(p, dt=dt) for _ in sizes[1:])

    def copy_from(self, fcs: list[nn.Linear]) -> None:
        _copy_linears(list(self.fcs), fcs)
        with torch.no_grad():
            for fc in self.fcs:
                fc.weight.div_(1.0 - BETA)
                fc.bias.div_(1.0 - BETA)

    def forward(self, x):
        """x ``(B, n)`` static (repeated every step) or ``(T, B, n)`` spikes -> counts."""
        states: list = [None] * len(self.lifs)
        static = x.dim() == 2
        counts = 0
        for t in range(T):
            h = x if static else x[t]
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                h, states[i] = lif(fc(h), states[i])
            counts = counts + h
        return counts


def _sj_lif():
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(tau=TAU, decay_input=False, v_threshold=1.0, v_reset=None,
                          detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="m")


class _SJNet(nn.Module):
    def __init__(self, sizes, layer1_once: bool):
        from spikingjelly.activation_based import layer

        super().__init__()
        mods = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            mods += [layer.Linear(a, b, step_mode="m"), _sj_lif()]
        self.net = nn.Sequential(*mods)
        self.fcs = [m for m in mods if isinstance(m, nn.Linear)]
        self.layer1_once = layer1_once

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        if x.dim() == 2 and self.layer1_once:
            c = self.net[0](x)  # (B, h): a plain Linear call, once
            out = self.net[1:](c.unsqueeze(0).expand(T, *c.shape))
        elif x.dim() == 2:
            out = self.net(x.unsqueeze(0).repeat(T, 1, 1))
        else:
            out = self.net(x)
        return out.sum(0)


# -- seed 003 (docs/training.md "Brain-dynamics models"): 100 -> Linear -> Expon synapse ->
# LIF -> Linear -> Expon readout, T = 100, one fixed batch of 128, CE of the time-mean readout
def _seed003_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(SEED003_T, 128, 100, generator=g) < 5.0 * 1e-3  # 5 Hz, dt 1 ms; bool spikes
    return x, (torch.rand(128, generator=g) < 0.5).long()


def _seed003_ours() -> nn.Module:
    """The docs' ``SpikingSequential`` of seed 003 (same initialisation as braintools')."""
    import math

    from sw.training import ExpSynapse, LapicqueCell, LeakyReadout, SpikingSequential, make_surrogate

    relu_grad = make_surrogate(lambda x, alpha, width: alpha * torch.clamp(width - x.abs(), min=0.0),
                               name="relu_grad", register=False, alpha=0.3, width=1.0)

    def kaiming(linear: nn.Linear, scale: float = math.sqrt(2.0)) -> nn.Linear:
        nn.init.normal_(linear.weight, std=math.sqrt(scale / linear.in_features))
        nn.init.zeros_(linear.bias)
        return linear

    torch.manual_seed(0)
    return SpikingSequential(
        kaiming(nn.Linear(100, 4), 7 * (1 - math.exp(-1.0))), ExpSynapse(tau=10.0, dt=1.0),
        LapicqueCell(tau=20.0, r=1.0, dt=20.0 * (1.0 - math.exp(-1.0 / 20.0)), threshold=1.0,
                     v_rest=0.0, surrogate_fn=relu_grad, reset="subtract", detach_reset=False),
        kaiming(nn.Linear(4, 2)), LeakyReadout(tau=10.0, dt=1.0))


class _BrainPyVariant:
    """Seed 003's own code: brainstate/brainpy modules, ``for_loop`` over T, ``grad`` and
    braintools' Adam in one ``brainstate.transform.jit`` function (XLA on the CPU)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        import brainpy
        import brainstate
        import braintools
        import brainunit as u
        import jax.numpy as jnp

        brainstate.random.seed(0)
        brainstate.environ.set(dt=1.0 * u.ms)

        class SNN(brainstate.nn.Module):
            def __init__(self, n_in, n_rec, n_out):
                super().__init__()
                decay = 1 - u.math.exp(-brainstate.environ.get_dt() / (1 * u.ms))
                self.i2r = brainstate.nn.Sequential(
                    brainstate.nn.Linear(n_in, n_rec, w_init=braintools.init.KaimingNormal(
                        scale=7 * decay, unit=u.mA), b_init=braintools.init.ZeroInit(unit=u.mA)),
                    brainpy.state.Expon(n_rec, tau=10. * u.ms,
                                        g_initializer=braintools.init.Constant(0. * u.mA)))
                self.r = brainpy.state.LIF(n_rec, tau=20 * u.ms, V_rest=0 * u.mV, V_reset=0 * u.mV,
                                           V_th=1. * u.mV, spk_fun=braintools.surrogate.ReluGrad())
                self.r2o = brainstate.nn.Linear(n_rec, n_out, w_init=braintools.init.KaimingNormal())
                self.o = brainpy.state.Expon(n_out, tau=10. * u.ms,
                                             g_initializer=braintools.init.Constant(0.))

            def update(self, spike):
                return self.o(self.r2o(self.r(self.i2r(spike))))

        net = SNN(100, 4, 2)
        x_data, y_data = jnp.asarray(x.numpy() > 0), jnp.asarray(y.numpy())
        opt = braintools.optim.Adam(lr=SEED003_LR)
        opt.register_trainable_weights(net.states(brainstate.ParamState))

        def loss_fn():
            outs = u.math.mean(brainstate.transform.for_loop(net.update, x_data), axis=0)
            return braintools.metric.softmax_cross_entropy_with_integer_labels(outs, y_data).mean()

        @brainstate.transform.jit
        def train_step():
            brainstate.nn.init_all_states(net, batch_size=x.shape[1])
            grads, loss = brainstate.transform.grad(loss_fn, net.states(brainstate.ParamState),
                                                    return_value=True)()
            opt.update(grads)
            return loss

        self.name, self.train_step, self.times = "brainpy-jit", train_step, []

    def step(self, x, y) -> float:
        t0 = time.perf_counter()
        float(self.train_step())  # float() waits for XLA's result
        return time.perf_counter() - t0


def _adam(params, lr: float) -> torch.optim.Adam:
    """torch's fused Adam (one kernel for all parameters; what XLA makes of BrainPy's), the
    same for every torch framework."""
    return torch.optim.Adam(params, lr=lr, fused=True)


class _Variant:
    def __init__(self, name: str, model: nn.Module, forward):
        self.name, self.model, self.forward = name, model, forward
        self.opt = _adam(model.parameters(), LR)
        self.times: list[float] = []

    def step(self, x, y) -> float:
        t0 = time.perf_counter()
        loss = F.cross_entropy(self.forward(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return time.perf_counter() - t0


def _variants(case: dict, skip: list[str]) -> list[_Variant]:
    sizes, static = case["sizes"], not case["rate"]
    torch.manual_seed(0)
    ours = _ours(sizes)
    out = [_Variant("ours", ours, lambda x, m=ours: m(prepare_input(m, x, T))[0])]
    if "snntorch" not in skip:
        for once in ((False, True) if static else (False,)):
            m = _SnnTorchNet(sizes, once)
            _copy_linears(list(m.fcs), list(ours.fcs))
            out.append(_Variant("snntorch-l1once" if once else "snntorch", m, m))
    if "spikingjelly" not in skip:
        for once in ((False, True) if static else (False,)):
            m = _SJNet(sizes, once)
            _copy_linears(m.fcs, list(ours.fcs))
            out.append(_Variant("sj-l1once" if once else "sj", m, m))
    if "norse" not in skip:
        try:
            m = _NorseNet(sizes)
        except ImportError as err:
            print(f"  (no norse variant: {err}; pip install --no-deps {NORSE_PACKAGE})", flush=True)
        else:
            m.copy_from(list(ours.fcs))
            out.append(_Variant("norse", m, m))
    for v in out:
        v.model.train()
    return out


class _PyLoopVariant(_Variant):
    """The project's model with the fused scans' Python loops (``scan_kernels`` off)."""

    def step(self, x, y) -> float:
        from sw.training.scan_kernels import kernels_disabled

        with kernels_disabled():
            return super().step(x, y)


def _seed003_variants(data, skip: list[str]) -> list:
    ours, pyloops = _seed003_ours(), _seed003_ours()
    out: list = [_Variant("ours", ours, lambda x, m=ours: m(x).mean(0)),
                 _PyLoopVariant("ours-pyloops", pyloops, lambda x, m=pyloops: m(x).mean(0))]
    for v in out:
        v.opt = _adam(v.model.parameters(), SEED003_LR)
    if "brainpy" not in skip:
        try:
            out.append(_BrainPyVariant(*data[0]))
        except ImportError as err:
            print(f"  (no brainpy-jit variant: {err}; pip install {BRAINPY_PACKAGES})", flush=True)
    return out


def _run_case(num: int, args) -> dict[str, tuple[float, float]]:
    case = CASES[num]
    if case.get("seed003"):
        data = [_seed003_data()]
        vs = _seed003_variants(data, args.skip)
    else:
        data = _batches(case)
        vs = _variants(case, args.skip)
    rounds = args.warmup + args.steps
    k = 0
    for r in range(rounds):
        order = vs[r % len(vs):] + vs[: r % len(vs)]
        for v in order:
            x, y = data[k % len(data)]
            dt = v.step(x, y)
            if r >= args.warmup:
                v.times.append(dt)
        k += 1
    res = {v.name: (1e3 * statistics.median(v.times), 1e3 * statistics.fmean(v.times))
           for v in vs}
    if case.get("seed003"):
        with torch.no_grad():  # the LIF layer's firing rate of the project's net
            x, _ = data[0]
            m = vs[0].model
            syn = m[1].forward_sequence(m[0](x.float()))[0]
            rate = float(m[2].forward_sequence(syn)[0].mean())
        res["_rate1"] = (rate, rate)
        res["_in"] = (float((x != 0).float().mean()), 0.0)
        return res
    with torch.no_grad():  # hidden-layer-1 firing rate of the project's net on batch 0
        x, _ = data[0]
        xs = prepare_input(vs[0].model, x, T)
        cur = vs[0].model.fcs[0](xs[0] if not case["rate"] else xs)
        if not case["rate"]:
            cur = cur.unsqueeze(0).expand(T, *cur.shape)
        rate = float(vs[0].model.lifs[0].forward_sequence(cur)[0].mean())
    res["_rate1"] = (rate, rate)
    res["_in"] = (float((x != 0).float().mean()), 0.0)
    return res


# -- memory -------------------------------------------------------------------------------
MEM_T, MEM_B, MEM_IN, MEM_OUT = 500, 16, 512, 4096
MEM_KINDS = ("linear", "ours", "sj", "snntorch")


def _status_kib(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` (KiB) of this process from ``/proc/self/status``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _mem_child(kind: str, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fc = nn.Linear(MEM_IN, MEM_OUT)
    x = torch.rand(MEM_T, MEM_B, MEM_IN)
    if kind == "ours":
        lif = LIFCell(beta=BETA)
        fn = lambda: lif.forward_sequence(fc(x))[0]  # noqa: E731
    elif kind == "sj":
        from spikingjelly.activation_based import functional
        lif = _sj_lif()

        def fn():
            functional.reset_net(lif)
            return lif(fc(x))
    elif kind == "snntorch":
        import snntorch as snn
        from snntorch import surrogate
        leaky = snn.Leaky(beta=BETA, spike_grad=surrogate.atan())

        def fn():
            mem, out = leaky.init_leaky(), []
            cur = fc(x)
            for t in range(MEM_T):
                s, mem = leaky(cur[t], mem)
                out.append(s)
            return torch.stack(out)
    else:
        fn = lambda: fc(x)  # noqa: E731
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    before = _status_kib("VmRSS")
    hwm_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn().sum().backward()
    if reset:
        peak, lower = _status_kib("VmHWM"), False
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        lower = True
    print(json.dumps({"extra_mib": (peak - before) / 1024, "lower_bound": lower,
                      "hwm_reset": reset, "rss_before_mib": before / 1024,
                      "ru_maxrss_before_mib": hwm_before / 1024}))


def _memory(args) -> dict[str, tuple[float, bool]]:
    kinds = [k for k in MEM_KINDS if not (k == "sj" and "spikingjelly" in args.skip)
             and not (k == "snntorch" and "snntorch" in args.skip)]
    got: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.mem_repeats):
        for k in kinds:
            p = subprocess.run([sys.executable, __file__, "--_mem-child", k, "--threads",
                                str(args.threads)], capture_output=True, text=True, check=True)
            got[k].append(json.loads(p.stdout.strip().splitlines()[-1]))
    return {k: (statistics.median(r["extra_mib"] for r in v), any(r["lower_bound"] for r in v))
            for k, v in got.items()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="*", type=int, default=list(CASES), choices=list(CASES))
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["snntorch", "spikingjelly", "norse", "brainpy"])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--steps", type=int, default=30, help="timed rounds per case (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 steps, 1 warm-up, "
                   "1 memory repeat")
    p.add_argument("--no-memory", dest="memory", action="store_false")
    p.add_argument("--mem-repeats", type=int, default=3)
    p.add_argument("--_mem-child", dest="mem_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mem_child:
        _mem_child(args.mem_child, args.threads)
        return {}
    if args.quick:
        args.steps, args.warmup, args.mem_repeats = 3, 1, 1
    torch.set_num_threads(args.threads)
    if args.threads == 1:  # XLA's CPU backend: one thread too, like torch (read when jax loads)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()
    from importlib.metadata import PackageNotFoundError, version as _version

    def version(pkg: str) -> str:
        try:
            return _version(pkg)
        except PackageNotFoundError:
            return "not installed"
    t_start = time.time()
    load0 = os.getloadavg()
    print(f"train_cases: T={T}, Adam {LR}, {args.threads} thread(s), torch {torch.__version__}, "
          f"snntorch {version('snntorch')}, spikingjelly {version('spikingjelly')}, "
          f"norse {version('norse')}, "
          f"brainpy {version('brainpy')} (brainstate {version('brainstate')}, jax {version('jax')}); "
          f"{args.warmup} warm-up + {args.steps} timed rounds, variants interleaved; "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    results: dict = {}
    for num in args.cases:
        c = CASES[num]
        t0 = time.time()
        res = _run_case(num, args)
        results[num] = res
        ours = res["ours"][0]
        net = "-".join(map(str, c["sizes"]))
        print(f"\ncase {num}: {net}, {'rate-encoded' if c['rate'] else 'static'} "
              f"{c['data']} input (non-zero {res['_in'][0]:.1%}), batch {c['batch']}; "
              f"hidden-1 rate at the end {res['_rate1'][0]:.3f}; {time.time() - t0:.0f} s")
        print(f"  {'variant':16s} {'median ms':>10s} {'(mean)':>9s} {'peer/ours':>9s}")
        for name, (med, mean) in res.items():
            if name.startswith("_"):
                continue
            ratio = "-" if name == "ours" else f"{med / ours:8.2f}x"
            print(f"  {name:16s} {med:10.2f} {f'({mean:.2f})':>9s} {ratio:>9s}", flush=True)
    if args.memory:
        mem = _memory(args)
        results["memory"] = mem
        print(f"\nmemory: x ({MEM_T}, {MEM_B}, {MEM_IN}) -> Linear({MEM_IN}, {MEM_OUT}) -> LIF, "
              f"forward + backward, peak extra RSS (child process per measurement, median of "
              f"{args.mem_repeats})")
        for k, (mib, lb) in mem.items():
            print(f"  {k:10s} {'<=' if lb else '  '}{mib:8.0f} MiB", flush=True)
        if "ours" in mem and "sj" in mem:
            print(f"  ratio sj / ours: {mem['sj'][0] / mem['ours'][0]:.2f}x")
    load1 = os.getloadavg()
    print(f"\ntotal {time.time() - t_start:.0f} s; load average at the end "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    return results


if __name__ == "__main__":
    main()
