"""``hw.cores.layer``: the time-multiplexed engine of one dense layer.

Golden function: one layer of ``sim.golden`` (see its docstring), i.e.

* ``PREP`` (analog input layer, once per sample):
  ``current = fmt.mac(W, x, b)`` -- exact products summed in a wide accumulator,
  one rounding and one saturation at the end -- stored in the current RAM.  A scan
  of the input first lists the nonzero inputs, and only those are multiplied (a
  zero product adds nothing: half the digits pixels are 0);
* ``STEP``: analog layer: ``I = current``; spike layer: ``I = fmt.spike_sum(W, s, b)``
  over the previous layer's spikes ``s`` of this step, adding only the weights of
  the inputs that spiked (the previous layer hands over a list of spike indices,
  so silent inputs cost nothing); then every neuron's state goes through the
  compiled neuron datapath (``hw.compiler``), and the neurons that spike are
  appended to this layer's spike list (and counted, for the output layer);
* ``FIRST``: a ``STEP`` from the zero state (the first step of a sample): states
  are read as 0 and every neuron's count is written (0 or 1), so no clear pass is needed.

Weights: ``P`` lanes (accumulators) fed by ``P / pack`` banks (layout and
8-bit packing in ``hw.cores.plan``), so ``P`` neurons accumulate at once; a bank
placed in SPRAM is reached through the ``ext<k>_addr/_data`` ports, because the
SPRAM block is shared with other layers and lives in the core; analog inputs use one
multiplier per lane (iCE40 DSP), spikes only adders.  Items of a group: one per input
(a spike index, or a nonzero input's index); a group with no inputs issues one empty item
(a zero term), so its neurons are still updated.  The biases are not in the rows: a bias
memory per current (``LayerPlan.bias_banks``, one word per neuron) is read as a neuron's
update is issued, and the bias (``bias << frac_bits`` in the analog layer) is added to its
exact sum before the rounding.
Accumulation pipeline, spike layers (``LayerPlan.acc_stage`` = 3): item issue ->
spike-list read -> weight read -> term register -> accumulate.  Analog layer (4):
item issue -> nonzero-list read -> input and weight read -> operand registers ->
product register -> accumulate; the operand and product registers have no reset,
enable or logic around the ``*``, so synthesis puts them inside the SB_MAC16
(A_REG/B_REG and its pipeline register) and the DSP runs on the core clock.

Alpha layers (``LayerPlan.split``: inputs ``I_exc``, ``I_inh``): each lane has two
accumulators fed from the same weight reads; a positive weight's term is
added to the first, a negative one's subtracted from the second (its magnitude; the
weight first clipped to ``-max_raw``, as ``hw.quantize`` clips the magnitude), so one
multiplier a lane still serves both (the biases come split from two bias memories); each
current is rounded and saturated on its own (the analog layer stores both).  Recurrent layers (``LayerPlan.recurrent``) use the
second accumulator for ``R``: after a group's input items come the layer's own spikes
of the previous step (a second read port of its spike list; none in the first step),
whose weights sit in the row after the inputs'.

Overlap (spike layers, ``LayerPlan.overlap``): a group's final sums move into the
lanes' hold registers in the cycle they are complete, and the next group accumulates
while the held ones are updated; a group's items take ``max(items, P)`` cycles (the
next group's sums may only land once the held lanes are all issued).  The analog
layer (``PREP`` once per sample) updates from the accumulators themselves, so its
next group waits ``P`` cycles.  Neuron updates run one per cycle: issue (rounding of
the held lane) -> saturation + state/current reads -> compiled datapath
(``neuron_stages`` pipeline stages, ``hw.cores.pipeline``) -> state/spike/count writes.
The cycle counts are :meth:`hw.cores.plan.LayerPlan.command_cycles`.

Pooled layers (``LayerPlan.pool``, a max-pooled conv): the ``pool**2`` lanes of a group hold
one neuron's window, and the group's single update takes the largest lane (per current),
through a compare tree with a register per level before the rounding
(``LayerPlan.pool_stages``, counted in ``LayerPlan.command_overhead``).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.cores.pipeline import PipelinedDatapath
from hw.cores.plan import LayerPlan, NetworkPlan
from hw.cores.spike_list import addr_bits, spike_lists
from hw.cores.weight_bank import WeightBank

__all__ = ["LayerUnit", "PREP", "STEP", "FIRST"]

PREP, STEP, FIRST = 1, 2, 3


_bits = addr_bits


def _max_tree(m: Module, values: list, name: str):
    """The largest of ``values`` (signed) through a tree of comparisons, one register per level
    (:func:`pool_levels` of them): a pooled layer's window (rounding and saturation are
    monotone, so the max of the sums is the max of the currents)."""
    level = 0
    while len(values) > 1:
        nxt = []
        for i in range(0, len(values) - 1, 2):
            a, b = values[i], values[i + 1]
            big = Signal(signed(max(len(a), len(b))), name=f"{name}_max{level}_{i // 2}")
            m.d.sync += big.eq(Mux(a > b, a, b))
            nxt.append(big)
        if len(values) % 2:   # the odd one out waits a level
            late = Signal.like(values[-1], name=f"{name}_late{level}")
            m.d.sync += late.eq(values[-1])
            nxt.append(late)
        values, level = nxt, level + 1
    return values[0]


class LayerUnit(wiring.Component):
    """Engine of one layer of a :class:`~hw.cores.plan.NetworkPlan`.

    Parameters:
        plan: the network plan; ``index``: which layer.

    Attributes:
        start, mode, t: pulse ``start`` with ``mode`` in {PREP, STEP, FIRST} and the step
            ``t`` the command computes.
        done: one-cycle strobe when the command has finished.
        src_addr, src_bank, src_data, src_count: reads the layer input (x RAM for the analog
            layer, else the previous layer's spike list of the same step, in bank
            ``src_bank``; ``src_data`` one cycle later) and the number of items in it.
        spk_raddr, spk_rbank, spk_rdata, n_spikes: this layer's spike lists, two banks: step
            ``t`` writes bank ``t % 2`` while the next layer reads step ``t - 1``'s bank
            (``spk_rbank``; ``n_spikes`` is that bank's length), so consecutive layers can
            work on consecutive steps at once.
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
            "start": In(1), "mode": In(2), "t": In(range(plan.timesteps + 1)), "done": Out(1),
            "src_addr": Out(_bits(lp.n_in)), "src_bank": Out(1), "src_data": In(w),
            "src_count": In(range(lp.n_in + 1)),
            "spk_raddr": In(_bits(lp.n_out)), "spk_rbank": In(1), "spk_rdata": Out(_bits(lp.n_out + 1)),
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
        self.step = Signal(range(plan.timesteps + 1), name="step")   # ``t`` of the running command

    def _ebr_bank(self, m: Module, name: str, bank) -> WeightBank:
        """A block-RAM bank (weights or biases) as submodule ``name``, on the shared load port;
        its bitstream contents when ``bank.preload``."""
        plan = self.plan
        wb = WeightBank(plan.fmt.width, bank.depth, plan.bank_words(bank) if bank.preload else None)
        m.submodules[name] = wb
        m.d.comb += [wb.waddr.eq(self.ld_addr), wb.wdata.eq(self.ld_data),
                     wb.we.eq(self.ld_en & (self.ld_bank == bank.index))]
        return wb

    def elaborate(self, platform) -> Module:  # noqa: C901 - one FSM, read top-down
        m = Module()
        lp, fmt = self.layer, self.plan.fmt
        w, P, n_out, n_in, G = fmt.width, lp.lanes, lp.n_out, lp.n_in, lp.groups
        analog, overlap, A = lp.analog, lp.overlap, lp.acc_stage

        # -- memories ------------------------------------------------------
        active = Signal()   # a command is running (shared SPRAM addresses are 0 otherwise)
        banks = []          # (read address, read data) per lane
        for bank in lp.banks:
            if bank.spram:   # the address already holds the bank's base (``rbase`` below)
                addr = Signal(14, name=f"bank{bank.lane}_raddr")
                m.d.comb += getattr(self, f"ext{bank.lane}_addr").eq(Mux(active, addr, 0))
                banks.append((addr, getattr(self, f"ext{bank.lane}_data")))
                continue
            wb = self._ebr_bank(m, f"bank{bank.lane}", bank)
            banks.append((wb.raddr, wb.rdata))
        m.submodules.state = state_mem = Memory(shape=self.n_states * w, depth=n_out, init=[])
        st_rd, st_wr = state_mem.read_port(), state_mem.write_port()
        obits = _bits(n_out)
        # 2 banks of entries ``neuron + 1`` (the weight column + 1: the row base is one less)
        spk_mem, spk_wr, n_spk = spike_lists(m, self, n_out)
        par = self.step[0]                          # the bank this command writes (and reads)
        REC = lp.recurrent
        NC = lp.currents                            # currents a lane sums (alpha: I_exc, I_inh; R)
        # current -> its bias memory
        bias_mems = {bank.lane: self._ebr_bank(m, f"bias{bank.lane}", bank) for bank in lp.bias_banks}
        if analog:
            m.submodules.current = cur_mem = Memory(shape=NC * w, depth=n_out, init=[])
            cur_rd, cur_wr = cur_mem.read_port(), cur_mem.write_port()
            # indices of the nonzero inputs of the sample (PREP's scan), as columns + 1.  Initially
            # column 0: an empty PREP (every input 0) reads entry 0, and before any scan wrote it
            # a 0 there made the input address -1, outside the input RAM (x in Verilog; found by
            # the random networks on the RTL simulator)
            nz_depth = max(2, n_in)
            m.submodules.nonzero = nz_mem = Memory(shape=_bits(n_in + 1), depth=nz_depth, init=[1] * nz_depth)
            nz_rd, nz_wr = nz_mem.read_port(), nz_mem.write_port()
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

        prep, first = Signal(), Signal()            # the command (constant while it runs)
        n_items = Signal(range(n_in + 2))           # spikes / nonzero inputs
        scanning = Signal()
        scan = Signal(range(n_in + 1))

        # -- accumulation pipeline: stage s flags v (valid), f (first item), e (last item) --
        acc_w = lp.acc_width(fmt)
        SH = lp.shift                               # weight field shift
        n_rec = Signal(range(n_out + 1))            # recurrent: own spikes of the previous step
        item = Signal(range(n_in + (n_out if REC else 0) + P + 1))   # stage 0: item j (inputs, then
        # the recurrent items), bubbles
        row_base = Signal(range(max(2, lp.bank_depth + lp.row)))
        group = Signal(range(G + 1))
        v = [Signal(name=f"v{s}") for s in range(A + 1)]
        f = [Signal(name=f"f{s}") for s in range(A + 1)]
        e = [Signal(name=f"e{s}") for s in range(A + 1)]
        # a group's items, at least 1 (``empty``: none, each group issues one zero term); both
        # registered when the item count is known (start, or PREP's scan end), off the item loop
        empty = Signal()
        n_eff = Signal.like(item)

        def set_items(total) -> None:
            m.d.sync += [n_eff.eq(Mux(total == 0, 1, total)), empty.eq(total == 0)]
        item_inc = Signal.like(item)                # item + 1 (the counter's and the tests' one add)
        m.d.comb += item_inc.eq(item + 1)
        m.d.comb += [f[0].eq(item == 0), e[0].eq(item_inc == n_eff)]
        for s in range(A):
            m.d.sync += [v[s + 1].eq(v[s]), f[s + 1].eq(f[s]), e[s + 1].eq(e[s])]
        if REC:   # r: a recurrent item (own spike list, columns after the inputs, into R)
            r = [Signal(name=f"r{s}") for s in range(A + 1)]
            m.d.comb += r[0].eq(item >= n_items)
            for s in range(A):
                m.d.sync += r[s + 1].eq(r[s])
            spk_own = spk_mem.read_port()           # the previous step's bank, beside the next layer's reads
            m.d.comb += spk_own.addr.eq(Cat((item - n_items)[:obits], ~par))
        # the lists hold weight columns + 1, so stage 1's bank address is one add: the row
        # base of the item's group plus the bank's base less 1 (registered) + the list entry
        if analog:   # stage 0 reads the nonzero list; stage 1 the input and the weights
            m.d.comb += nz_rd.addr.eq(item)
            column1 = nz_rd.data
            m.d.comb += self.src_addr.eq(Mux(scanning, scan, column1 - 1))
        else:        # stage 0 reads the spike list; stage 1 the weights
            m.d.comb += self.src_addr.eq(item)
            column1 = self.src_data[:_bits(n_in + 1)]
            if REC:  # own neuron j's recurrent weight at column n_in + j
                column1 = Mux(r[1], spk_own.data + n_in, column1)
        rbase: dict[int, Signal] = {}
        for bank, (raddr, _) in zip(lp.banks, banks):
            base = bank.base if bank.spram else 0
            if base not in rbase:   # (wraps at row 0, base 0: the entries are >= 1)
                rbase[base] = Signal(len(raddr), name=f"rbase{base}")
                m.d.sync += rbase[base].eq(row_base + base - 1)
            m.d.comb += raddr.eq(rbase[base] + column1)
        if analog:
            # DSP B operand register: nothing around it, or synthesis keeps it out of the SB_MAC16
            # (a Mux to 0 becomes the FF's reset).  An empty PREP needs no zeroing: it means every
            # input of the sample is 0, so whatever word the empty item reads is 0.
            x2 = Signal(signed(w), reset_less=True)
            m.d.sync += x2.eq(self.src_data.as_signed())

        bits = w // lp.pack
        accs, nexts = [], []
        for k in range(P):
            rdata = banks[k // lp.pack][1]
            if lp.pack == 1:
                wk = rdata
            else:   # the lane's field; a weight code goes back left by SH
                fld = rdata[(k % lp.pack) * bits:(k % lp.pack + 1) * bits].as_signed()
                wk = Cat(Const(0, SH), fld).as_signed() if SH else fld
            neg = None
            if lp.split:   # alpha: a positive weight's term goes to I_exc, a negative one's is
                # subtracted from I_inh (its magnitude), the weight first clipped to -max_raw as
                # hw.quantize clips the magnitude (only -2**(w-1) changes)
                neg = Signal(name=f"neg{k}")
                m.d.comb += neg.eq(wk < 0)
                if len(wk) >= w:
                    clip = Signal(signed(len(wk)), name=f"wclip{k}")
                    m.d.comb += clip.eq(Mux(wk < -fmt.max_raw, -fmt.max_raw, wk))
                    wk = clip
            if analog:
                # registered DSP: operands (A_REG/B_REG) and product with nothing in between
                wreg = Signal(signed(len(wk)), reset_less=True, name=f"wop{k}")
                term = Signal(signed(len(wk) + w), reset_less=True, name=f"prod{k}")
                m.d.sync += [wreg.eq(wk), term.eq(wreg * x2)]
                if neg is not None:
                    neg1, neg2 = Signal(name=f"neg{k}_op"), Signal(name=f"neg{k}_prod")
                    m.d.sync += [neg1.eq(neg), neg2.eq(neg1)]
                    neg = neg2
            else:
                term = Signal(signed(len(wk)), name=f"term{k}")
                m.d.sync += term.eq(Mux(empty, 0, wk))     # (the FF's reset: no LUT)
                if neg is not None:
                    neg1 = Signal(name=f"neg{k}_term")
                    m.d.sync += neg1.eq(neg)
                    neg = neg1
            lane_accs, lane_nexts = [], []
            for c in range(NC):
                acc = Signal(signed(acc_w), name=f"acc{k}" + (f"_{c}" if NC > 1 else ""))
                nxt = Signal(signed(acc_w), name=f"acc_next{k}" + (f"_{c}" if NC > 1 else ""))
                sel = r[A] if REC else neg          # which current the term goes to
                part = term if sel is None else Mux(sel if c else ~sel, term, 0)
                if lp.split and c:                  # I_inh: the magnitudes of the negative terms
                    m.d.comb += nxt.eq(Mux(f[A], -part, acc - part))
                else:
                    m.d.comb += nxt.eq(Mux(f[A], part, acc + part))
                lane_accs.append(acc)
                lane_nexts.append(nxt)
            accs.append(lane_accs)
            nexts.append(lane_nexts)

        # -- update issue: the held lanes shift down as they are issued (lane k from hold0) --
        u0 = Signal()
        nstep = Signal()                            # analog STEP: every neuron, no accumulation
        load = Signal()                             # a group's sums are complete
        upd_left = Signal(range(P + 1))             # held lanes not issued yet
        o_issue = Signal(range(n_out + 1))
        o_inc = Signal.like(o_issue)                # o_issue + 1 (the count's and the bias read's add)
        m.d.comb += o_inc.eq(o_issue + 1)
        m.d.comb += [load.eq(v[A] & e[A]), u0.eq((upd_left != 0) | nstep)]
        holds = [[Signal(signed(acc_w), name=f"hold{k}" + (f"_{c}" if NC > 1 else "")) for c in range(NC)]
                 for k in range(P)] if overlap else accs
        for k in range(P):
            for c in range(NC):
                if overlap:
                    with m.If(v[A]):
                        m.d.sync += accs[k][c].eq(nexts[k][c])
                    with m.If(load):
                        m.d.sync += holds[k][c].eq(nexts[k][c])
                    with m.Elif(u0):
                        if k + 1 < P:
                            m.d.sync += holds[k][c].eq(holds[k + 1][c])
                else:   # the next group's first sum lands at the earliest with the last issue
                    with m.If(v[A]):
                        m.d.sync += accs[k][c].eq(nexts[k][c])
                    with m.Elif(u0):
                        if k + 1 < P:
                            m.d.sync += accs[k][c].eq(accs[k + 1][c])
        with m.If(u0):
            m.d.sync += o_issue.eq(o_inc)
        with m.If(upd_left != 0):
            m.d.sync += upd_left.eq(Mux(o_issue == n_out - 1, 0, upd_left - 1))
        with m.If(load):
            m.d.sync += upd_left.eq(P if lp.pool == 1 else 1)   # pooled: one update a group

        # -- neuron update pipeline: u0 issue, u1 round + reads, u2 datapath, u3 writes --
        u1, o1 = Signal(), Signal.like(o_issue)
        u2, o2 = Signal(), Signal.like(o_issue)
        cur2s = []
        u_in, o_in = u0, o_issue                     # what u1 / o1 take: the issue, or its pooled stages
        o_next = Mux(u0, o_inc, o_issue)             # the neuron issued in the next cycle
        for k in range(lp.pool_stages):   # pooled: the window's max, one register per tree level
            u_d0, o_d0 = Signal(name=f"u_pool{k}"), Signal.like(o_issue, name=f"o_pool{k}")
            m.d.sync += [u_d0.eq(u_in), o_d0.eq(o_in)]
            o_next = o_in
            u_in, o_in = u_d0, o_d0
        for bb in bias_mems.values():   # read a cycle ahead: the bias of o_in is there with it
            m.d.comb += bb.raddr.eq(o_next)
        # nearest / truncate rounding: (s + (b << f) + half) >> f, the bias and the half in one add
        fold = analog and fmt.frac_bits > 0 and fmt.rounding in ("nearest", "truncate")
        for c in range(NC):   # each current: its bias added, rounded (analog) and saturated
            held = holds[0][c] if lp.pool == 1 else _max_tree(m, [holds[k][c] for k in range(P)], f"pool{c}")
            if c in bias_mems:   # the exact sum: weight terms + bias (<< frac_bits: analog)
                bias = bias_mems[c].rdata
                if analog:
                    low = (1 << (fmt.frac_bits - 1)) if (fold and fmt.rounding == "nearest") else 0
                    bias = Cat(Const(low, fmt.frac_bits), bias).as_signed()
                total = Signal(signed(lp.sum_width(fmt)), name=f"sum{c}")
                m.d.comb += total.eq(held + bias)   # (alpha's I_inh: both are magnitudes)
                held = total
            if not analog:
                rounded = held
            elif c in bias_mems and fold:
                rounded = held >> fmt.frac_bits
            else:
                rounded = fmt.hdl_shift_round(held, fmt.frac_bits)
            rnd1 = Signal(signed(len(rounded)), name=f"rnd1_{c}")
            cur2 = Signal(signed(w), name=f"cur2_{c}")
            m.d.sync += [rnd1.eq(rounded), cur2.eq(fmt.hdl_fit(rnd1))]
            cur2s.append(cur2)
        n_cur = Mux(par, n_spk[1], n_spk[0])         # spikes appended in this step so far
        m.d.comb += [st_rd.addr.eq(o1), spk_wr.addr.eq(Cat(n_cur[:obits], par))]
        if analog:
            m.d.comb += [cur_rd.addr.eq(o1), cur_wr.addr.eq(o2), cur_wr.data.eq(Cat(*cur2s))]
        m.d.sync += [u1.eq(u_in), o1.eq(o_in), u2.eq(u1), o2.eq(o1)]

        # datapath inputs: the synaptic current(s) (the analog layer's stored ones), other inputs
        # zero; the states read as 0 in the first step
        currents = ([cur_rd.data[c * w:(c + 1) * w].as_signed() for c in range(NC)] if analog else cur2s)
        env = {name: currents[c] if c < NC else Const(0, signed(w)) for c, name in enumerate(inputs)}
        for s, name in enumerate(states):
            st = Signal(signed(w), name=f"st_{name}")
            m.d.comb += st.eq(Mux(first, 0, st_rd.data[s * w:(s + 1) * w].as_signed()))
            env[name] = st
        outs, spike = dp.build(m, env)
        # u3 (``lat`` cycles after u2): the datapath's results are registered, then written
        # (keeps the spike bookkeeping off the datapath's long combinational path)
        new_state = Signal(self.n_states * w)
        for s, name in enumerate(states):
            m.d.comb += new_state[s * w:(s + 1) * w].eq(outs[name])
        update_neurons = u2 & ~prep
        u_d, o_d = [update_neurons], [o2]             # u2 delayed through the datapath stages
        for i in range(lat):
            u_d.append(Signal(name=f"u2_{i + 1}"))
            o_d.append(Signal.like(o_issue, name=f"o2_{i + 1}"))
            m.d.sync += [u_d[-1].eq(u_d[-2]), o_d[-1].eq(o_d[-2])]
        u3, o3 = Signal(), Signal.like(o_issue)
        state3, spike3 = Signal.like(new_state), Signal()
        m.d.sync += [u3.eq(u_d[-1]), o3.eq(o_d[-1]), state3.eq(new_state), spike3.eq(spike)]
        m.d.comb += [spk_wr.data.eq(o3 + 1), self.spike_index.eq(o3)]
        m.d.comb += [st_wr.addr.eq(o3), st_wr.data.eq(state3), st_wr.en.eq(u3)]
        if lp.count:  # read one cycle before u3, add one (from 0 in the first step)
            m.d.comb += cnt_rd.addr.eq(o_d[-2] if lat else o1)
            count3 = Signal(self.plan.count_bits)
            m.d.sync += count3.eq(Mux(first, 0, cnt_rd.data) + 1)
            m.d.comb += [cnt_wr.addr.eq(o3), cnt_wr.data.eq(Mux(spike3, count3, 0)),
                         cnt_wr.en.eq(u3 & (spike3 | first))]
        if analog:
            m.d.comb += cur_wr.en.eq(u2 & prep)
        # (strobes as plain expressions of registers: no process to wake in an event simulator)
        m.d.comb += [spk_wr.en.eq(u3 & spike3), self.spike_valid.eq(u3 & spike3)]
        with m.If(u3 & spike3):
            with m.If(par):
                m.d.sync += n_spk[1].eq(n_spk[1] + 1)
            with m.Else():
                m.d.sync += n_spk[0].eq(n_spk[0] + 1)

        if analog:   # PREP's scan: input j read in one cycle, listed in the next when nonzero
            sv1, sj1 = Signal(), Signal.like(scan)
            m.d.sync += [sv1.eq(scanning), sj1.eq(scan)]
            m.d.comb += [nz_wr.addr.eq(n_items), nz_wr.data.eq(sj1 + 1)]
            m.d.comb += nz_wr.en.eq(sv1 & (self.src_data != 0))
            with m.If(nz_wr.en):
                m.d.sync += n_items.eq(n_items + 1)

        # -- control ------------------------------------------------------------
        # a group's items end when ``item + 1 == win_end``: its items, then bubbles until the held lanes
        # (overlap) or the accumulators (analog) are free for the next group's sums
        win_end = Signal.like(item)
        if overlap:
            m.d.comb += win_end.eq(Mux((group == G - 1) | (n_eff >= P), n_eff, P))
        else:
            m.d.comb += win_end.eq(Mux(group == G - 1, n_eff, n_eff + P - 1))
        busy_acc = Signal()
        m.d.comb += busy_acc.eq(Cat(*v[1:]).any())
        m.d.sync += self.done.eq(0)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [prep.eq(self.mode == PREP), first.eq(self.mode == FIRST), self.step.eq(self.t),
                                 group.eq(0), row_base.eq(0), o_issue.eq(0), item.eq(0),
                                 upd_left.eq(0)]
                    with m.If(self.mode == PREP):
                        if analog:
                            m.d.sync += [scan.eq(0), n_items.eq(0)]
                            m.next = "SCAN"
                        else:
                            m.next = "FINISH"
                    with m.Else():
                        with m.If(self.t[0]):
                            m.d.sync += n_spk[1].eq(0)
                        with m.Else():
                            m.d.sync += n_spk[0].eq(0)
                        if analog:
                            m.next = "NSTEP"
                        else:
                            m.d.sync += n_items.eq(self.src_count)
                            if REC:   # the previous step's own spikes (none before the first)
                                own = Mux(self.mode == FIRST, 0, Mux(self.t[0], n_spk[0], n_spk[1]))
                                m.d.sync += n_rec.eq(own)
                                set_items(self.src_count + own)
                            else:
                                set_items(self.src_count)
                            m.next = "ACC"
            if analog:
                with m.State("SCAN"):
                    m.d.sync += scan.eq(scan + 1)
                    with m.If(scan == n_in - 1):
                        m.next = "SCAN_END"
                with m.State("SCAN_END"):          # the last input's test (listed in this cycle)
                    set_items(n_items + nz_wr.en)
                    m.next = "ACC"
            with m.State("ACC"):
                m.d.sync += item.eq(item_inc)
                with m.If(item_inc == win_end):
                    m.d.sync += [item.eq(0), group.eq(group + 1), row_base.eq(row_base + lp.row)]
                    with m.If(group == G - 1):
                        m.next = "TAIL"
            with m.State("TAIL"):                   # the last sums, then the last issues
                with m.If(~busy_acc & (upd_left == 0)):
                    m.next = "FLUSH1"
            with m.State("NSTEP"):
                with m.If(o_issue == n_out - 1):
                    m.next = "FLUSH"
            # the last update passes u2, the datapath stages and u3
            flush = ["FLUSH"] + [f"FLUSH{k}" for k in range(1, lat + 2 + lp.pool_stages)] + ["FINISH"]
            for here, after in zip(flush[:-1], flush[1:]):
                with m.State(here):
                    m.next = after
            with m.State("FINISH"):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        # the shared SPRAM blocks see 0 from a layer unless it reads weights: the analog
        # layer's STEP (no weights) runs alongside the layers that share its blocks
        # the FSM's outputs as expressions of its state (see the strobes above)
        m.d.comb += [v[0].eq(fsm.ongoing("ACC") & (item < n_eff)), nstep.eq(fsm.ongoing("NSTEP") if analog else 0)]
        if analog:
            m.d.comb += scanning.eq(fsm.ongoing("SCAN"))
        m.d.comb += [active.eq(~fsm.ongoing("IDLE") & (prep if analog else 1)),
                     self.src_bank.eq(Mux(fsm.ongoing("IDLE"), self.t[0], par))]
        return m
