"""``hw.cores.layer``: the time-multiplexed engine of one dense layer.

Golden function: one layer of ``sim.golden`` (see its docstring), i.e.

* ``PREP`` (analog input layer, once per sample):
  ``current = fmt.mac(W, x, b)`` -- exact products summed in a wide accumulator,
  one rounding and one saturation at the end -- stored in the current RAM;
* ``STEP``: analog layer: ``I = current``; spike layer: ``I = fmt.spike_sum(W, s, b)``
  over the previous layer's spikes ``s`` of this step, adding only the weights of
  the inputs that spiked (the previous layer hands over a list of spike indices,
  so silent inputs cost nothing); then every neuron's state goes through the
  compiled neuron datapath (``hw.compiler``), and the neurons that spike are
  appended to this layer's spike list (and counted, for the output layer);
* ``CLEAR``: all states, counts and the spike list to zero.

Weights: ``P`` lanes (accumulators) fed by ``P / pack`` banks (layout and
8-bit packing in ``hw.cores.plan``), so ``P`` neurons accumulate at once; a bank
placed in SPRAM is reached through the ``ext<k>_addr/_data`` ports, because the
SPRAM block is shared with other layers and lives in the core; analog inputs use one
multiplier per lane (iCE40 DSP), spikes only adders.  Accumulation pipeline (spike
layers): item issue -> source read -> weight read -> term register -> accumulate.
Analog layer: item issue (source and weight read at once) -> operand registers ->
product register -> accumulate; the operand and product registers have no reset,
enable or logic around the ``*``, so synthesis puts them inside the SB_MAC16
(A_REG/B_REG and its pipeline register) and the DSP runs on the core clock; the bias
item starts the accumulator from the bank's output (``bias << frac_bits``).
Neuron updates then run one per cycle: issue (rounding of the lane's accumulator)
-> saturation + state/current reads -> compiled datapath (``neuron_stages`` pipeline
stages, ``hw.cores.pipeline``) -> state/spike/count writes.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.cores.pipeline import PipelinedDatapath
from hw.cores.plan import LayerPlan, NetworkPlan
from hw.cores.weight_bank import WeightBank

__all__ = ["LayerUnit", "CLEAR", "PREP", "STEP"]

CLEAR, PREP, STEP = 0, 1, 2


def _bits(n: int) -> int:
    """Address bits for ``n`` entries (at least 1)."""
    return max(1, (n - 1).bit_length())


class LayerUnit(wiring.Component):
    """Engine of one layer of a :class:`~hw.cores.plan.NetworkPlan`.

    Parameters:
        plan: the network plan; ``index``: which layer.

    Attributes:
        start, mode: pulse ``start`` with ``mode`` in {CLEAR, PREP, STEP}.
        done: one-cycle strobe when the command has finished.
        src_addr, src_data, src_count: reads the layer input (x RAM for the analog
            layer, else the previous layer's spike list; ``src_data`` one cycle later)
            and the number of items in it.
        spk_raddr, spk_rdata, n_spikes: this layer's spike list of the current step.
        cnt_raddr, cnt_rdata: spike counts (output layer only).
        ld_bank, ld_addr, ld_data, ld_en: weight load port (shared by all layers).
        ext<k>_addr, ext<k>_data: read port of bank ``k`` when it sits in a shared SPRAM
            block (address already offset by the bank's base; 0 while idle).
    """

    def __init__(self, plan: NetworkPlan, index: int) -> None:
        self.plan = plan
        self.layer: LayerPlan = plan.layers[index]
        lp, w = self.layer, plan.fmt.width
        self.n_states = len(lp.states)
        ports = {}
        for bank in lp.banks:
            if bank.spram:  # the SPRAM block is shared with other layers: it lives in the core
                ports[f"ext{bank.lane}_addr"] = Out(14)
                ports[f"ext{bank.lane}_data"] = In(signed(w))
        super().__init__({
            **ports,
            "start": In(1), "mode": In(2), "done": Out(1),
            "src_addr": Out(_bits(lp.n_in)), "src_data": In(w), "src_count": In(range(lp.n_in + 1)),
            "spk_raddr": In(_bits(lp.n_out)), "spk_rdata": Out(_bits(lp.n_out)),
            "n_spikes": Out(range(lp.n_out + 1)),
            "cnt_raddr": In(_bits(lp.n_out)), "cnt_rdata": Out(plan.count_bits),
            "ld_bank": In(plan.bank_bits), "ld_addr": In(plan.offset_bits),
            "ld_data": In(signed(w)), "ld_en": In(1),
        })
        # Trace (not ports; read by testbenches, removed by synthesis when unused):
        # ``spike_valid`` is 1 in the cycle neuron ``spike_index`` of this layer is
        # appended to the spike list of the step being computed.
        self.spike_valid = Signal(name="spike_valid")
        self.spike_index = Signal(_bits(lp.n_out), name="spike_index")

    def elaborate(self, platform) -> Module:  # noqa: C901 - one FSM, read top-down
        m = Module()
        lp, fmt = self.layer, self.plan.fmt
        w, P, n_out = fmt.width, lp.lanes, lp.n_out

        # -- memories ------------------------------------------------------
        active = Signal()   # a command is running (shared SPRAM addresses are 0 otherwise)
        banks = []          # (read address, read data) per lane
        for bank in lp.banks:
            if bank.spram:
                addr = Signal(14, name=f"bank{bank.lane}_raddr")
                m.d.comb += getattr(self, f"ext{bank.lane}_addr").eq(Mux(active, addr + bank.base, 0))
                banks.append((addr, getattr(self, f"ext{bank.lane}_data")))
                continue
            wb = WeightBank(w, bank.depth, lp.bank_words(bank.lane, w) if bank.preload else None)
            m.submodules[f"bank{bank.lane}"] = wb
            sel = self.ld_en & (self.ld_bank == bank.index)
            m.d.comb += [wb.waddr.eq(self.ld_addr), wb.wdata.eq(self.ld_data), wb.we.eq(sel)]
            banks.append((wb.raddr, wb.rdata))
        m.submodules.state = state_mem = Memory(shape=self.n_states * w, depth=n_out, init=[])
        st_rd, st_wr = state_mem.read_port(), state_mem.write_port()
        m.submodules.spikes = spk_mem = Memory(shape=_bits(n_out), depth=n_out, init=[])
        spk_rd, spk_wr = spk_mem.read_port(), spk_mem.write_port()
        m.d.comb += [spk_rd.addr.eq(self.spk_raddr), self.spk_rdata.eq(spk_rd.data)]
        if lp.analog:
            m.submodules.current = cur_mem = Memory(shape=signed(w), depth=n_out, init=[])
            cur_rd, cur_wr = cur_mem.read_port(), cur_mem.write_port()
        if lp.count:
            m.submodules.counts = cnt_mem = Memory(shape=self.plan.count_bits, depth=n_out, init=[])
            cnt_rd = cnt_mem.read_port()
            cnt_ext = cnt_mem.read_port()
            cnt_wr = cnt_mem.write_port()
            m.d.comb += [cnt_ext.addr.eq(self.cnt_raddr), self.cnt_rdata.eq(cnt_ext.data)]

        # -- neuron datapath (``lp.neuron_stages`` pipeline stages) ------------
        dp = PipelinedDatapath(lp.neuron, lp.neuron_stages)
        lat = dp.latency
        states, inputs = lp.states, lp.inputs

        mode = Signal(2)
        n_items = Signal(range(lp.n_in + 2))

        # -- accumulation pipeline ------------------------------------------
        acc_w = lp.acc_width(fmt)
        accs = [Signal(signed(acc_w), name=f"acc{k}") for k in range(P)]
        item = Signal(range(lp.n_in + 2))           # stage 0: 0 = bias, j+1 = input j
        v0 = Signal()
        v1, b1 = Signal(), Signal()
        v2, b2 = Signal(), Signal()
        x2 = Signal(signed(w), reset_less=True)     # DSP B operand register (analog layer)
        v3, b3 = Signal(), Signal()
        terms = [Signal(signed(2 * w + 1), name=f"term{k}") for k in range(P)]
        row_base = Signal(range(max(2, lp.bank_depth + lp.row)))
        group = Signal(range(lp.groups + 1))

        m.d.comb += self.src_addr.eq(Mux(item == 0, 0, item - 1))
        m.d.sync += [v1.eq(v0), b1.eq(item == 0),
                     v2.eq(v1), b2.eq(b1), x2.eq(self.src_data.as_signed()),
                     v3.eq(v2), b3.eq(b2)]
        col = Signal(range(lp.row + 1))
        if lp.analog:  # the weight column is the item itself (0 = bias), read with the source
            m.d.comb += col.eq(item)
        else:
            m.d.comb += col.eq(Mux(b1, 0, self.src_data[:_bits(lp.n_in)] + 1))
        for raddr, _ in banks:
            m.d.comb += raddr.eq(row_base + col)
        bits = w // lp.pack
        for k in range(P):
            rdata = banks[k // lp.pack][1]
            wk = rdata if lp.pack == 1 else rdata[(k % lp.pack) * bits:(k % lp.pack + 1) * bits].as_signed()
            if lp.analog:
                # registered DSP: operands (A_REG/B_REG) and product with nothing in between
                wreg = Signal(signed(len(wk)), reset_less=True, name=f"wop{k}")
                prod = Signal(signed(len(wk) + w), reset_less=True, name=f"prod{k}")
                m.d.sync += [wreg.eq(wk), prod.eq(wreg * x2)]
                with m.If(v1 & b1):    # bias item: straight from the bank; its product is never added
                    m.d.sync += accs[k].eq(wk << fmt.frac_bits)
                with m.Elif(v3 & ~b3):
                    m.d.sync += accs[k].eq(accs[k] + prod)
            else:
                m.d.sync += terms[k].eq(wk)
                with m.If(v3):
                    m.d.sync += accs[k].eq(Mux(b3, terms[k], accs[k] + terms[k]))

        # -- neuron update pipeline: u0 issue, u1 round + reads, u2 datapath, u3 writes --
        o_issue = Signal(range(n_out + 1))
        lane = Signal(range(P + 1))
        u0 = Signal()
        u1, o1 = Signal(), Signal.like(o_issue)
        u2, o2 = Signal(), Signal.like(o_issue)
        if lp.analog:
            rounded = fmt.hdl_shift_round(accs[0], fmt.frac_bits)
        else:
            rounded = accs[0]
        rnd1 = Signal(signed(len(rounded)))
        cur2 = Signal(signed(w))
        # the lanes' accumulators shift down as they are issued, so lane k is read from acc0
        with m.If(u0):
            for k in range(P - 1):
                m.d.sync += accs[k].eq(accs[k + 1])
        m.d.comb += [st_rd.addr.eq(o1), spk_wr.addr.eq(self.n_spikes)]
        if lp.analog:
            m.d.comb += [cur_rd.addr.eq(o1), cur_wr.addr.eq(o2), cur_wr.data.eq(cur2)]
        m.d.sync += [u1.eq(u0), o1.eq(o_issue), rnd1.eq(rounded),
                     u2.eq(u1), o2.eq(o1), cur2.eq(fmt.hdl_fit(rnd1))]

        # datapath inputs: the synaptic current, other inputs zero
        if lp.analog:
            current = Mux(mode == STEP, cur_rd.data, cur2)
        else:
            current = cur2
        env = {inputs[0]: current, **{name: Const(0, signed(w)) for name in inputs[1:]}}
        env.update({name: st_rd.data[s * w:(s + 1) * w].as_signed() for s, name in enumerate(states)})
        outs, spike = dp.build(m, env)
        # u3 (``lat`` cycles after u2): the datapath's results are registered, then written
        # (keeps the spike bookkeeping off the datapath's long combinational path)
        new_state = Signal(self.n_states * w)
        for s, name in enumerate(states):
            m.d.comb += new_state[s * w:(s + 1) * w].eq(outs[name])
        update_neurons = u2 if not lp.analog else (u2 & (mode != PREP))
        u_d, o_d = [update_neurons], [o2]             # u2 delayed through the datapath stages
        for i in range(lat):
            u_d.append(Signal(name=f"u2_{i + 1}"))
            o_d.append(Signal.like(o_issue, name=f"o2_{i + 1}"))
            m.d.sync += [u_d[-1].eq(u_d[-2]), o_d[-1].eq(o_d[-2])]
        u3, o3 = Signal(), Signal.like(o_issue)
        state3, spike3 = Signal.like(new_state), Signal()
        m.d.sync += [u3.eq(u_d[-1]), o3.eq(o_d[-1]), state3.eq(new_state), spike3.eq(spike)]
        m.d.comb += [spk_wr.data.eq(o3), self.spike_index.eq(o3)]
        if lp.count:  # read one cycle before u3, add one
            m.d.comb += cnt_rd.addr.eq(o_d[-2] if lat else o1)
            count3 = Signal(self.plan.count_bits)
            m.d.sync += count3.eq(cnt_rd.data + 1)

        clearing = Signal()
        m.d.comb += [st_wr.addr.eq(Mux(clearing, o_issue, o3)),
                     st_wr.data.eq(Mux(clearing, 0, state3))]
        if lp.count:
            m.d.comb += [cnt_wr.addr.eq(Mux(clearing, o_issue, o3)),
                         cnt_wr.data.eq(Mux(clearing, 0, count3))]
        if lp.analog:
            m.d.comb += cur_wr.en.eq(u2 & (mode == PREP))
        with m.If(clearing):
            m.d.comb += st_wr.en.eq(1)
            if lp.count:
                m.d.comb += cnt_wr.en.eq(1)
        with m.Elif(u3):
            m.d.comb += st_wr.en.eq(1)
            with m.If(spike3):
                m.d.comb += [spk_wr.en.eq(1), self.spike_valid.eq(1)]
                m.d.sync += self.n_spikes.eq(self.n_spikes + 1)
                if lp.count:
                    m.d.comb += cnt_wr.en.eq(1)

        # -- control ------------------------------------------------------------
        drain = Signal(range(5))
        m.d.sync += self.done.eq(0)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [mode.eq(self.mode), group.eq(0), row_base.eq(0),
                                 o_issue.eq(0), item.eq(0), lane.eq(0)]
                    m.d.sync += n_items.eq(lp.n_in if lp.analog else self.src_count)
                    with m.Switch(self.mode):
                        with m.Case(CLEAR):
                            m.d.sync += self.n_spikes.eq(0)
                            m.next = "CLEAR"
                        with m.Case(PREP):
                            m.next = "ACC" if lp.analog else "FLUSH"
                        with m.Default():
                            m.d.sync += self.n_spikes.eq(0)
                            m.next = "NSTEP" if lp.analog else "ACC"
            with m.State("CLEAR"):
                m.d.comb += clearing.eq(1)
                m.d.sync += o_issue.eq(o_issue + 1)
                with m.If(o_issue == n_out - 1):
                    m.next = "FLUSH"
            with m.State("ACC"):
                m.d.comb += v0.eq(1)
                m.d.sync += item.eq(item + 1)
                with m.If(item == n_items):
                    m.d.sync += drain.eq(3)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.sync += lane.eq(0)
                    m.next = "UPD"
            with m.State("UPD"):
                m.d.comb += u0.eq(1)
                m.d.sync += [o_issue.eq(o_issue + 1), lane.eq(lane + 1)]
                with m.If((lane == P - 1) | (o_issue == n_out - 1)):
                    m.d.sync += [group.eq(group + 1), row_base.eq(row_base + lp.row), item.eq(0)]
                    with m.If(group == lp.groups - 1):
                        m.next = "FLUSH"
                    with m.Else():
                        m.next = "ACC"
            with m.State("NSTEP"):
                m.d.comb += u0.eq(1)
                m.d.sync += o_issue.eq(o_issue + 1)
                with m.If(o_issue == n_out - 1):
                    m.next = "FLUSH"
            # the last update passes u2, the datapath stages and u3
            flush = ["FLUSH"] + [f"FLUSH{k}" for k in range(1, lat + 2)] + ["FINISH"]
            for here, after in zip(flush[:-1], flush[1:]):
                with m.State(here):
                    m.next = after
            with m.State("FINISH"):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += active.eq(~fsm.ongoing("IDLE"))
        return m
