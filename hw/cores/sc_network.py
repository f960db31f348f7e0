"""``hw.cores.sc_network``: the SC engine -- a whole network whose currents are SC dot products.

Golden function: ``sim.sc.fixed.run_sc_fixed`` (spike counts, prediction, every layer's
spikes per step), bit for bit; the mapping is ``hw.sc_map``, the layout and the cycle
model ``hw.cores.sc_plan``.  Same ports as ``hw.cores.network.NetworkCore``, so the host
interface, flash loader and test benches drive either.

Schedule of one inference: sum the clamped pixels (``S`` of the first layer), then for
each step ``t`` and layer ``l`` in order: ``K_l S_l`` (a shift-add product: ``S_l`` is the
pixel sum or the number of the previous layer's spikes), then for each neuron ``j``:
for each input entry -- every pixel above 0 for the first layer, the previous layer's
spike list otherwise -- read the synapse's shift and threshold from SPRAM and stream its
``length`` bits through :class:`hw.cores.sc_stream.SCStream` (``bits_per_cycle`` a
clock, stream positions ``[t L, (t + 1) L)``), adding the popcounts into ``C``; then
``I = fit(shift_round(A_l C + K_l S_l + (b_j << 16), 16))`` (another shift-add
product), the neuron update (``hw.cores.pipeline.PipelinedDatapath``), and the spike into the
layer's list (and the output counts).  Last the argmax (ties to the lowest index).
One stream unit serves every layer; layers and neurons run one after another.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.cores.encoder import FIRST as ENCODER_FIRST
from hw.cores.encoder import EncoderUnit
from hw.cores.engine import core_ports, input_ram
from hw.cores.layer import _bits
from hw.cores.pipeline import PipelinedDatapath
from hw.cores.plan import SPRAM_DEPTH
from hw.cores.rom import Rom
from hw.cores.sc_plan import DRAIN, SCLayerPlan, SCPlan
from hw.cores.sc_stream import SCStream
from hw.cores.weight_bank import WeightBank
from hw.sc_map import SC_FRAC, SC_WIDTH

__all__ = ["SCNetworkCore", "SCLayerState"]


class SCLayerState(wiring.Component):
    """One layer's neurons (states in block RAM), biases and spike list.

    Attributes:
        upd_valid, upd_index, upd_first, upd_current: a neuron update (``first``: from the zero
            state); ``2 + plan.neuron_stages - 1`` clocks later its spike is out.
        clear: empty the spike list (the layer's step begins).
        spike_valid, spike_index: two clocks after an update, its spike (trace and list write).
        t: the step being computed; ``step`` (not a port) is its registered copy, the trace.
        spk_raddr, spk_rdata, n_spikes: the spike list's read side (one clock latency).
        b_raddr, b_rdata: the bias ROM (raw, one clock latency).
    """

    def __init__(self, plan: SCPlan, layer: SCLayerPlan) -> None:
        self.layer, self.fmt, self.stages = layer, plan.fmt, plan.neuron_stages
        n, w = layer.n_out, plan.fmt.width
        super().__init__({
            "upd_valid": In(1), "upd_index": In(range(max(2, n))), "upd_first": In(1),
            "upd_current": In(signed(w)), "clear": In(1), "t": In(range(plan.timesteps + 1)),
            "spike_valid": Out(1), "spike_index": Out(range(max(2, n))),
            "spk_raddr": In(_bits(n)), "spk_rdata": Out(_bits(n)), "n_spikes": Out(range(n + 1)),
            "b_raddr": In(_bits(n)), "b_rdata": Out(signed(w)),
        })
        self.step = Signal(range(plan.timesteps + 1), name="step")

    def elaborate(self, platform) -> Module:
        m = Module()
        layer = self.layer
        n, w, states = layer.n_out, self.fmt.width, layer.states
        m.d.sync += self.step.eq(self.t)    # t only changes between layer passes
        # neuron update: read the state (c), datapath in ``stages`` stages from c + 1, the
        # results registered and written back at c + 2 + latency, when the spike is out
        dp = PipelinedDatapath(layer.neuron, self.stages)
        m.submodules.state = st_mem = Memory(shape=w * len(states), depth=max(2, n), init=[])
        st_rd, st_wr = st_mem.read_port(), st_mem.write_port()
        v1, i1, f1 = Signal(), Signal.like(self.upd_index), Signal()
        cur1 = Signal(signed(w))
        m.d.comb += st_rd.addr.eq(self.upd_index)
        m.d.sync += [v1.eq(self.upd_valid), i1.eq(self.upd_index), f1.eq(self.upd_first),
                     cur1.eq(self.upd_current)]
        env = {"I": cur1}
        for k, name in enumerate(states):
            st = Signal(signed(w), name=f"st_{name}")
            m.d.comb += st.eq(Mux(f1, 0, st_rd.data[k * w:(k + 1) * w].as_signed()))
            env[name] = st
        outs, spike = dp.build(m, env)
        v_d, i_d = v1, i1
        for k in range(dp.latency):
            v_n, i_n = Signal(name=f"v_d{k}"), Signal.like(i1, name=f"i_d{k}")
            m.d.sync += [v_n.eq(v_d), i_n.eq(i_d)]
            v_d, i_d = v_n, i_n
        v3, spike3 = Signal(), Signal()
        state3 = Signal(w * len(states))
        m.d.sync += [v3.eq(v_d), self.spike_index.eq(i_d), spike3.eq(spike),
                     state3.eq(Cat(*[outs[name] for name in states]))]
        m.d.comb += [st_wr.addr.eq(self.spike_index), st_wr.data.eq(state3), st_wr.en.eq(v3),
                     self.spike_valid.eq(v3 & spike3)]
        m.submodules.spikes = lst = Memory(shape=_bits(n), depth=max(2, n), init=[])
        rd, wr = lst.read_port(), lst.write_port()
        m.d.comb += [rd.addr.eq(self.spk_raddr), self.spk_rdata.eq(rd.data),
                     wr.addr.eq(self.n_spikes), wr.data.eq(self.spike_index), wr.en.eq(self.spike_valid)]
        with m.If(self.clear):
            m.d.sync += self.n_spikes.eq(0)
        with m.Elif(self.spike_valid):
            m.d.sync += self.n_spikes.eq(self.n_spikes + 1)
        bias = [int(b) for b in layer.table.bias] + [0] * (max(2, n) - n)
        m.submodules.bias = rom = Rom(bias)
        m.d.comb += [rom.addr.eq(self.b_raddr), self.b_rdata.eq(rom.data)]
        return m


class SCNetworkCore(wiring.Component):
    """All layers of an :class:`~hw.cores.sc_plan.SCPlan` plus the inference sequencer.

    Ports as ``hw.cores.network.NetworkCore``: ``x_*`` input RAM write port, ``start`` /
    ``busy`` / ``done``, ``cnt_raddr`` / ``cnt_rdata`` output counts, ``pred``, ``cycles``,
    ``ld_*`` synapse load port (``ld_addr = block << 14 | offset``), and with ``banks > 1``
    ``x_wbank`` / ``x_rbank``.
    """

    def __init__(self, plan: SCPlan, banks: int = 1) -> None:
        self.plan, self.banks = plan, banks
        ports = core_ports(plan, banks)
        super().__init__(ports)

    def elaborate(self, platform) -> Module:  # noqa: C901 (one FSM)
        m = Module()
        plan = self.plan
        fmt, layers = plan.fmt, plan.layers
        n_layers, T, n_out, n_in0 = len(layers), plan.timesteps, plan.n_output, plan.n_input
        one = 1 << fmt.frac_bits

        # -- input RAM (as NetworkCore) ---------------------------------------
        x_rd, x_raddr = input_ram(m, self)
        analog = layers[0].analog           # direct encoding: layer 0 streams the pixels
        xs_data = Signal(SC_WIDTH)
        if analog:   # the input shifts, stored as signed 16-bit words (hw.cores.rom.Rom), read back unsigned
            shifts = [int(v) - (1 << SC_WIDTH) if v >= 1 << (SC_WIDTH - 1) else int(v)
                      for v in layers[0].table.x_shift] + [0] * (max(2, n_in0) - n_in0)
            m.submodules.x_shift = xs_rom = Rom(shifts)
            m.d.comb += xs_rom.addr.eq(x_raddr)
            xs_word = Signal(signed(SC_WIDTH))
            m.d.comb += [xs_word.eq(xs_rom.data), xs_data.eq(xs_word.as_unsigned())]   # sign-extend, reread

        # -- synapse SPRAM: shift block 2p, threshold block 2p + 1 ------------
        syn_addr = Signal(range(max(2, plan.n_synapses)))
        pair_q = Signal(range(max(2, plan.pairs)))
        m.d.sync += pair_q.eq(syn_addr >> plan.offset_bits)
        shift_words, thr_words = [], []
        ld_block = self.ld_addr[plan.offset_bits:]
        for block in range(2 * plan.pairs):
            bank = WeightBank(fmt.width, SPRAM_DEPTH, spram=True)
            m.submodules[f"spram{block}"] = bank
            m.d.comb += [bank.raddr.eq(syn_addr[:plan.offset_bits]), bank.waddr.eq(self.ld_addr[:plan.offset_bits]),
                         bank.wdata.eq(self.ld_data), bank.we.eq(self.ld_en & ~self.busy & (ld_block == block))]
            (shift_words if block % 2 == 0 else thr_words).append(bank.rdata.as_unsigned())
        syn_shift, syn_thr = Signal(SC_WIDTH), Signal(SC_WIDTH)
        m.d.comb += [syn_shift.eq(shift_words[0]), syn_thr.eq(thr_words[0])]
        for pair in range(1, plan.pairs):
            with m.If(pair_q == pair):
                m.d.comb += [syn_shift.eq(shift_words[pair]), syn_thr.eq(thr_words[pair])]

        # -- layers and the stream unit ----------------------------------------
        units = []
        for layer in layers:
            unit = SCLayerState(plan, layer)
            m.submodules[f"layer{layer.index}"] = unit
            units.append(unit)
        m.submodules.stream = stream = SCStream(plan.bits_per_cycle, with_inputs=analog)

        # output spike counts
        m.submodules.counts = cnt_mem = Memory(shape=plan.count_bits, depth=max(2, n_out), init=[])
        cnt_rd, cnt_wr = cnt_mem.read_port(), cnt_mem.write_port()
        am_addr = Signal(range(n_out + 1))

        # -- sequencer state ----------------------------------------------------
        t = Signal(range(T + 1))
        li = Signal(range(max(2, n_layers)))
        j = Signal(range(max(2, max(lay.n_out for lay in layers) + 1)))
        e = Signal(range(max(lay.n_in for lay in layers) + 2))
        wi = Signal(range(plan.words + 1))
        m_base = Signal(SC_WIDTH - plan.block_bits)
        row = Signal.like(syn_addr)
        n_entries = Signal.like(e)
        acc_w = plan.acc_bits
        mul_a, acc = Signal(signed(acc_w)), Signal(signed(acc_w))
        mul_b = Signal(max(max(plan.c_bits(lay), plan.s_bits(lay)) for lay in layers) + 1)
        mul_n = Signal(range(acc_w + 1))
        ks = Signal(signed(acc_w))
        count_c = Signal(max(plan.c_bits(lay) for lay in layers) + 1)
        sx = Signal(range(n_in0 * one + 1))
        sum_v = Signal()
        drain = Signal(range(max(DRAIN, plan.neuron_stages) + 1))
        cur = Signal(signed(fmt.width))

        # per-layer constants of the current layer
        cur_n_in, cur_n_out = Signal.like(e), Signal.like(j)
        cur_base = Signal.like(syn_addr)
        cur_a, cur_k = Signal(signed(acc_w)), Signal(signed(acc_w))
        cur_cbits, cur_sbits = Signal.like(mul_n), Signal.like(mul_n)
        bias = Signal(signed(fmt.width))
        # (Mux chains, not a Switch: constant-only comb processes become ``always @*`` blocks that
        # Icarus never runs when the select does not change, leaving the values x)
        def by_layer(values):
            return _by_index(li, values)

        m.d.comb += [cur_n_in.eq(by_layer([lay.n_in for lay in layers])),
                     cur_n_out.eq(by_layer([lay.n_out for lay in layers])),
                     cur_base.eq(by_layer([lay.base for lay in layers])),
                     cur_a.eq(by_layer([lay.table.a for lay in layers])),
                     cur_k.eq(by_layer([lay.table.k for lay in layers])),
                     cur_cbits.eq(by_layer([plan.c_bits(lay) for lay in layers])),
                     cur_sbits.eq(by_layer([plan.s_bits(lay) for lay in layers])),
                     bias.eq(by_layer([u.b_rdata for u in units]))]
        prev_rdata = Signal(_bits(max([lay.n_out for lay in layers] + [n_in0])))
        prev_n = Signal.like(e)
        encoder = None
        if plan.encoder is not None:   # rate / latency: step t's input spikes, listed before layer 0 runs
            m.submodules.encoder = encoder = EncoderUnit(plan.encoder, fmt.width)
            m.d.comb += [encoder.src_data.eq(x_rd.data), encoder.spk_raddr.eq(e), encoder.spk_rbank.eq(t[0]),
                         encoder.t.eq(t), encoder.mode.eq(Mux(t == 0, ENCODER_FIRST, 0))]   # entries: pixel + 1
        for layer, unit in zip(layers, units):
            m.d.comb += [unit.b_raddr.eq(j), unit.t.eq(t), unit.upd_index.eq(j),
                         unit.upd_first.eq(t == 0), unit.upd_current.eq(cur)]
            if layer.index + 1 < n_layers:
                m.d.comb += unit.spk_raddr.eq(e)
        # what layer li reads: the previous layer's spike list (layer 0: the encoder's, or nothing)
        first_list = ([encoder.spk_rdata - 1], [encoder.n_spikes]) if plan.encoder is not None else ([0], [0])
        m.d.comb += [prev_rdata.eq(by_layer(first_list[0] + [u.spk_rdata for u in units[:-1]])),
                     prev_n.eq(by_layer(first_list[1] + [u.n_spikes for u in units[:-1]]))]

        # the stream unit: C += its popcounts
        m.d.comb += [stream.m.eq(m_base + wi), stream.use_x.eq((li == 0) if analog else 0)]
        with m.If(stream.out_valid):
            m.d.sync += count_c.eq(count_c + stream.count)

        # the current: shift_round then the overflow rule, as hw.sc_map.sc_currents
        m.d.comb += cur.eq(fmt.hdl_fit(fmt.hdl_shift_round(acc, SC_FRAC)))
        last = units[-1]
        m.d.comb += cnt_rd.addr.eq(Mux(self.busy, j, self.cnt_raddr))   # ARGMAX reads am_addr
        m.d.comb += self.cnt_rdata.eq(cnt_rd.data)

        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        m.d.sync += [self.done.eq(0), sum_v.eq(0)]
        with m.If(sum_v):
            m.d.sync += sx.eq(sx + Mux(x_rd.data <= 0, 0, Mux(x_rd.data >= one, one, x_rd.data)))
        best, am_valid, am_idx = Signal(plan.count_bits), Signal(), Signal.like(self.pred)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), self.cycles.eq(1), t.eq(0), li.eq(0), e.eq(0), sx.eq(0),
                                 m_base.eq(0), am_addr.eq(0), self.pred.eq(0)]
                    m.next = "SUM" if analog else "ENC_GO"
            if encoder is not None:
                with m.State("ENC_GO"):   # list step t's input spikes
                    m.d.comb += [encoder.start.eq(1), x_raddr.eq(encoder.src_addr)]
                    m.next = "ENC_WAIT"
                with m.State("ENC_WAIT"):
                    m.d.comb += x_raddr.eq(encoder.src_addr)
                    with m.If(encoder.done):
                        m.next = "LSTART"
            with m.State("SUM"):          # sx = sum of the clamped pixels (read one clock later)
                m.d.comb += x_raddr.eq(e)
                m.d.sync += [e.eq(e + 1), sum_v.eq(1)]
                with m.If(e == n_in0 - 1):
                    m.next = "SUM_WAIT"
            with m.State("SUM_WAIT"):
                m.next = "LSTART"
            with m.State("LSTART"):       # K_l S_l by shift and add
                for layer, unit in zip(layers, units):
                    m.d.comb += unit.clear.eq(li == layer.index)
                m.d.sync += [mul_a.eq(cur_k), mul_b.eq(Mux(li == 0, sx, prev_n) if analog else prev_n), acc.eq(0),
                             mul_n.eq(cur_sbits),
                             n_entries.eq(Mux(li == 0, cur_n_in, prev_n) if analog else prev_n),
                             j.eq(0), row.eq(cur_base)]
                m.next = "LMUL"
            with m.State("LMUL"):
                m.d.sync += [acc.eq(acc + Mux(mul_b[0], mul_a, 0)), mul_a.eq(mul_a << 1),
                             mul_b.eq(mul_b >> 1), mul_n.eq(mul_n - 1)]
                with m.If(mul_n == 1):
                    m.next = "KSAVE"
            with m.State("KSAVE"):
                m.d.sync += ks.eq(acc)
                m.next = "NSTART"
            with m.State("NSTART"):
                m.d.sync += [count_c.eq(0), e.eq(0)]
                m.next = "EFETCH"
            with m.State("EFETCH"):       # read entry e: a pixel (and its shift) or a spike index
                m.d.comb += x_raddr.eq(e)
                with m.If(e == n_entries):
                    m.d.sync += drain.eq(DRAIN - 1)
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "EWAIT"
            with m.State("EWAIT"):
                m.d.comb += x_raddr.eq(e)
                with m.If((li == 0) if analog else 0):
                    m.d.comb += syn_addr.eq(row + e)
                    m.d.sync += [stream.x_shift.eq(xs_data),
                                 stream.x_thr.eq(Mux(x_rd.data >= one, one, x_rd.data) << (SC_WIDTH - fmt.frac_bits))]
                    with m.If(x_rd.data <= 0):       # a zero pixel's stream is all 0: skip it
                        m.d.sync += e.eq(e + 1)
                        m.next = "EFETCH"
                    with m.Else():
                        m.next = "SWAIT"
                with m.Else():
                    m.d.comb += syn_addr.eq(row + prev_rdata)
                    m.next = "SWAIT"
            with m.State("SWAIT"):        # the synapse's shift and threshold arrive from SPRAM
                m.d.sync += [stream.w_shift.eq(syn_shift), stream.w_thr.eq(syn_thr), wi.eq(0)]
                m.next = "STREAM"
            with m.State("STREAM"):       # one block of stream bits a clock
                m.d.comb += stream.valid.eq(1)
                m.d.sync += wi.eq(wi + 1)
                with m.If(wi == plan.words - 1):
                    m.d.sync += e.eq(e + 1)
                    m.next = "EFETCH"
            with m.State("DRAIN"):        # the last popcounts reach C
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.sync += [mul_a.eq(cur_a), mul_b.eq(count_c), mul_n.eq(cur_cbits),
                                 acc.eq(ks + (bias << SC_FRAC))]
                    m.next = "NMUL"
            with m.State("NMUL"):         # A_l C by shift and add
                m.d.sync += [acc.eq(acc + Mux(mul_b[0], mul_a, 0)), mul_a.eq(mul_a << 1),
                             mul_b.eq(mul_b >> 1), mul_n.eq(mul_n - 1)]
                with m.If(mul_n == 1):
                    m.next = "UPDATE"
            with m.State("UPDATE"):       # the neuron update with I = cur
                m.d.sync += drain.eq(0)
                for layer, unit in zip(layers, units):
                    m.d.comb += unit.upd_valid.eq(li == layer.index)
                m.next = "UWAIT"
            with m.State("UWAIT"):       # 1 + the datapath's latency
                m.d.sync += drain.eq(drain + 1)
                with m.If(drain == plan.neuron_stages - 1):
                    m.next = "SPIKE"
            with m.State("SPIKE"):        # the spike is out (listed by the layer); count it
                with m.If(li == n_layers - 1):
                    m.d.comb += [cnt_wr.addr.eq(j), cnt_wr.en.eq(1),
                                 cnt_wr.data.eq(Mux(t == 0, 0, cnt_rd.data) + last.spike_valid)]
                m.next = "NNEXT"
            with m.State("NNEXT"):
                m.d.sync += [j.eq(j + 1), row.eq(row + cur_n_in)]
                with m.If(j == cur_n_out - 1):
                    m.next = "LEND"
                with m.Else():
                    m.next = "NSTART"
            with m.State("LEND"):
                with m.If(li == n_layers - 1):
                    m.d.sync += [li.eq(0), t.eq(t + 1), m_base.eq(m_base + plan.words)]
                    with m.If(t == T - 1):
                        m.d.sync += [am_addr.eq(0), best.eq(0), am_idx.eq(0)]
                        m.next = "ARGMAX0"
                    with m.Else():
                        m.next = "LSTART" if analog else "ENC_GO"
                with m.Else():
                    m.d.sync += li.eq(li + 1)
                    m.next = "LSTART"
            with m.State("ARGMAX0"):      # read count 0
                m.d.comb += cnt_rd.addr.eq(0)
                m.d.sync += [am_addr.eq(1), am_valid.eq(1), am_idx.eq(0)]
                m.next = "ARGMAX"
            with m.State("ARGMAX"):       # compare count am_idx, read am_addr
                m.d.comb += cnt_rd.addr.eq(am_addr)
                m.d.sync += [am_addr.eq(am_addr + 1), am_idx.eq(am_addr), am_valid.eq(am_addr < n_out)]
                with m.If(am_valid & (cnt_rd.data > best)):
                    m.d.sync += [best.eq(cnt_rd.data), self.pred.eq(am_idx)]
                with m.If(am_addr == n_out):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.sync += [self.busy.eq(0), self.done.eq(1), am_valid.eq(0), am_addr.eq(0)]
                m.next = "IDLE"
        return m


def _by_index(index, values):
    """``values[index]`` as a chain of ``Mux`` (``values`` constants or signals)."""
    out = values[-1]
    for k in range(len(values) - 2, -1, -1):
        out = Mux(index == k, values[k], out)
    return out
