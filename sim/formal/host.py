"""``sim.formal.host``: no received byte sequence writes a weight except a well-formed ``'W'`` frame.

:class:`HostHarness` drives :class:`hw.cores.host_io.HostInterface` at its byte interface:
the UART receiver is replaced by free ``byte``/``byte_valid`` inputs (a byte at most every
other cycle, as the receiver guarantees: :class:`UartGapHarness` proves that of
:class:`hw.cores.uart.UARTRx`), and the network core by a stand-in whose outputs are free
(busy, done, counts: any behaviour of the real core is one of them, so the check covers it).
Next to it runs a reference of the framing, written from ``sw.host.protocol`` (the
golden function of the host interface: frame lengths come from its ``load_request``,
``sample_request`` and ``pixel_request``): a command byte at a frame boundary, then its
payload; ``'W'`` + address u24 + count u16 + count words.  Asserted every cycle:

* the core's weight-load strobe ``ld_en`` is 1 exactly when the reference has just
  received the second byte of a word of a well-formed ``'W'`` frame, and then
  ``ld_addr``/``ld_data`` are that word's address (start + index) and value.

So a malformed frame (a ``'W'`` inside a sample's payload, a short header, any garbage)
never writes.  Engine: ``smtbmc yices``, ``bmc`` over :data:`HOST_DEPTH` cycles (up to
half as many bytes, from power-up).  :class:`CoreWeightHarness` closes the chain inside
the core: every weight memory's write enable (EBR banks in the layers, shared SPRAM
blocks) implies ``ld_en & ~busy`` -- proved for all states (k-induction).

Negative checks (must FAIL): :class:`AnyByteWrites`, a host interface whose load strobe
follows every received byte; a core whose first layer takes loads while busy
(:func:`check_core_weights` with ``mutant=True``); a receiver whose ``valid`` stays high
(:func:`check_uart_gap` with ``mutant=True``).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from unittest import mock

import numpy as np
from amaranth import Cat, Elaboratable, Fragment, Module, Signal
from amaranth.hdl import Assert, Assume
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .engine import free_inputs
from .sby import SbyResult, no_reset, run_sby

__all__ = ["HOST_DEPTH", "frame_lengths", "HostHarness", "AnyByteWrites", "CoreWeightHarness",
           "UartGapHarness", "check_host", "check_core_weights", "check_uart_gap"]

HOST_DEPTH = 22
"""BMC depth of :func:`check_host`: 11 bytes, e.g. a pixel frame holding ``'W'`` bytes, then
a one-word load, then garbage."""


CORE_WEIGHTS_DEPTH = 4
"""k-induction depth of :func:`check_core_weights`: the property holds by 1-induction; the
base case covers the first cycles after power-up, long enough (start, then ``busy``) for the
mutant's write while busy to show as a counterexample."""


def frame_lengths(n_input: int, pixels: bool) -> dict[int, int]:
    """Payload bytes after each command byte (``sw.host.protocol``'s frames; others: 0)."""
    from hw.cores.link import SAMPLE_COMMANDS
    from sw.host.protocol import pixel_request, sample_request

    x = np.zeros(n_input, dtype=np.int64)
    out = {}
    for cmd in SAMPLE_COMMANDS.values():
        if cmd.pixel and not pixels:
            continue  # answered '?', no payload
        frame = (pixel_request(x, n_input, compact=cmd.compact, codes=True) if cmd.pixel
                 else sample_request(x, n_input, compact=cmd.compact))
        assert frame[0] == ord(cmd.code)
        out[ord(cmd.code)] = len(frame) - 1
    return out


def _load_header_bytes() -> int:
    from sw.host.protocol import load_request

    return len(load_request(0, np.zeros(0, dtype=np.int64))) - 1   # address u24 + count u16


def _silence(*objs) -> None:
    for o in objs:  # built only for their signature: no "never used" warning
        o._MustUse__silence = True


class _Prebuilt(Elaboratable):
    def __init__(self, fragment) -> None:
        self.fragment = fragment

    def elaborate(self, platform):
        return self.fragment


class HostHarness(wiring.Component):
    """The host interface of ``plan`` at its byte interface, against the framing reference.

    Parameters:
        plan: the network plan.
        host_class: the host interface class (``HostInterface``, or a mutant).
    """

    def __init__(self, plan, host_class=None) -> None:
        from hw.cores.host_io import HostInterface
        from hw.cores.network import NetworkCore

        self.plan = plan
        self.host_class = host_class or HostInterface
        probe = NetworkCore(plan, banks=2)
        _silence(probe)
        self.core_outputs = {n: m.shape for n, m in probe.signature.members.items()
                             if m.is_port and m.flow == Out}
        ports = {"byte": In(8), "byte_valid": In(1)}
        ports.update({f"core_{n}": In(s) for n, s in self.core_outputs.items()})
        super().__init__(ports)

    def elaborate(self, platform) -> Module:
        from hw.cores.network import NetworkCore
        from hw.pixels import supports

        m = Module()
        no_reset(m)
        plan, harness = self.plan, self
        made: dict[str, object] = {}

        class ByteSource(wiring.Component):   # stands in for UARTRx
            def __init__(self, divisor: int) -> None:
                super().__init__({"rx": In(1, init=1), "data": Out(8), "valid": Out(1), "error": Out(1)})

            def elaborate(self, platform) -> Module:
                mm = Module()
                mm.d.comb += [self.data.eq(harness.byte), self.valid.eq(harness.byte_valid)]
                return mm

        class FreeCore(wiring.Component):     # stands in for NetworkCore: free outputs
            def __init__(self, plan, banks: int = 1) -> None:
                probe = NetworkCore(plan, banks=banks)
                _silence(probe)
                super().__init__(probe.signature)
                made["core"] = self

            def elaborate(self, platform) -> Module:
                mm = Module()
                for n in harness.core_outputs:
                    mm.d.comb += getattr(self, n).eq(getattr(harness, f"core_{n}"))
                return mm

        with mock.patch("hw.cores.host_io.UARTRx", ByteSource), \
                mock.patch("hw.cores.host_io.core_for", lambda plan, banks=1: FreeCore(plan, banks)):
            dut = self.host_class(plan, divisor=16)
            body = dut.elaborate(platform)
        _silence(dut)   # elaborated here, by hand
        core = made["core"]
        m.submodules.dut = body
        m.d.comb += [dut.rx.eq(1), dut.boot_en.eq(0), dut.boot_done.eq(0)]

        # the receiver's pace: never two bytes in consecutive cycles
        last = Signal()
        m.d.sync += last.eq(self.byte_valid)
        m.d.comb += Assume(~(last & self.byte_valid))

        # the framing reference
        got, byte = self.byte_valid, self.byte
        payload = frame_lengths(plan.n_input, supports(plan.fmt))
        hdr_bytes = _load_header_bytes()
        CMD, HDR, DATA, SKIP = range(4)
        phase = Signal(range(4))
        hn = Signal(range(hdr_bytes + 1))
        hdr = Signal(8 * hdr_bytes)
        addr, count = Signal(24), Signal(16)
        half, lo = Signal(), Signal(8)
        left = Signal(range(max(payload.values(), default=1) + 1))
        write = Signal()
        m.d.comb += write.eq(got & (phase == DATA) & half)
        with m.If(got):
            with m.Switch(phase):
                with m.Case(CMD):
                    with m.If(byte == ord("W")):
                        m.d.sync += [phase.eq(HDR), hn.eq(0)]
                    for code, n in payload.items():
                        with m.Elif(byte == code):
                            m.d.sync += [phase.eq(SKIP), left.eq(n)]
                with m.Case(HDR):
                    full_hdr = Cat(hdr[8:], byte)
                    m.d.sync += [hdr.eq(full_hdr), hn.eq(hn + 1)]
                    with m.If(hn == hdr_bytes - 1):
                        m.d.sync += [addr.eq(full_hdr[:24]), count.eq(full_hdr[24:40]), half.eq(0)]
                        m.d.sync += phase.eq(DATA)
                        with m.If(full_hdr[24:40] == 0):
                            m.d.sync += phase.eq(CMD)
                with m.Case(DATA):
                    m.d.sync += [half.eq(~half), lo.eq(byte)]
                    with m.If(half):
                        m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                        with m.If(count == 1):
                            m.d.sync += phase.eq(CMD)
                with m.Case(SKIP):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.d.sync += phase.eq(CMD)

        w = len(core.ld_addr)
        m.d.comb += [
            Assert(core.ld_en == write, "weight strobe differs from the well-formed 'W' frames"),
            Assert(~core.ld_en | (core.ld_addr == addr[:w]), "weight written at the wrong address"),
            Assert(~core.ld_en | (core.ld_data.as_unsigned() == Cat(lo, byte)), "weight written with the wrong value"),
        ]
        return m


def _any_byte_writes():
    from hw.cores.host_io import HostInterface

    class AnyByteWrites(HostInterface):
        """Mutant: the load strobe follows every received byte (must be caught)."""

        def _parser(self, m, rx, core, host_ld, *rest) -> None:
            super()._parser(m, rx, core, host_ld, *rest)
            m.d.comb += host_ld.eq(rx.valid)

    return AnyByteWrites


def AnyByteWrites(plan, divisor: int):  # noqa: N802 - a class factory (HostInterface imported lazily)
    """A mutant ``HostInterface`` whose weight-load strobe follows every received byte."""
    return _any_byte_writes()(plan, divisor)


@contextmanager
def _recording_banks(banks: list):
    from hw.cores.weight_bank import WeightBank

    class Recorded(WeightBank):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            banks.append(self)

    with mock.patch("hw.cores.layer.WeightBank", Recorded), mock.patch("hw.cores.network.WeightBank", Recorded):
        yield


def _load_while_busy():
    from hw.cores.network import NetworkCore

    class LoadWhileBusy(NetworkCore):
        """Mutant: the first layer's load port is not blocked while the core runs."""

        def elaborate(self, platform) -> Module:
            m = super().elaborate(platform)
            m.d.comb += m.submodules["layer0"].ld_en.eq(self.ld_en)   # the last assignment wins
            return m

    return LoadWhileBusy


class CoreWeightHarness(wiring.Component):
    """``NetworkCore`` with free inputs: every weight memory write enable implies ``ld_en & ~busy``.

    Parameters:
        plan: the network plan.
        mutant: use a core whose first layer takes loads while busy (must FAIL).
    """

    def __init__(self, plan, mutant: bool = False) -> None:
        from hw.cores.network import NetworkCore

        self.plan = plan
        self.core = (_load_while_busy() if mutant else NetworkCore)(plan)
        self.banks: list = []
        super().__init__(free_inputs(self.core))

    def elaborate(self, platform) -> Module:
        m = Module()
        no_reset(m)
        core = self.core
        with _recording_banks(self.banks):
            fragment = Fragment.get(core, platform)   # elaborates every layer and bank now
        m.submodules.core = _Prebuilt(fragment)
        for n in self.signature.members:
            m.d.comb += getattr(core, n).eq(getattr(self, n))
        assert self.banks, "no weight memory found in the core"
        for i, bank in enumerate(self.banks):
            m.d.comb += Assert(~bank.we | (core.ld_en & ~core.busy), f"weight memory {i} written outside a load")
        return m


def _held_strobe():
    from hw.cores.uart import UARTRx

    class HeldStrobe(UARTRx):
        """Mutant: ``valid`` is not cleared after a byte (stays high once set)."""

        def elaborate(self, platform) -> Module:
            m = super().elaborate(platform)
            with m.If(self.valid):
                m.d.sync += self.valid.eq(1)   # the last assignment wins
            return m

    return HeldStrobe


class UartGapHarness(wiring.Component):
    """``UARTRx`` with a free line: ``valid`` never pulses in two consecutive cycles.

    Parameters:
        divisor: clock cycles per bit.
        mutant: use a receiver whose ``valid`` stays high (must FAIL).
    """

    def __init__(self, divisor: int = 4, mutant: bool = False) -> None:
        self.divisor, self.mutant = divisor, mutant
        super().__init__({"rx": In(1)})

    def elaborate(self, platform) -> Module:
        from hw.cores.uart import UARTRx

        m = Module()
        no_reset(m)
        m.submodules.rx = rx = (_held_strobe() if self.mutant else UARTRx)(self.divisor)
        m.d.comb += rx.rx.eq(self.rx)
        last = Signal()
        m.d.sync += last.eq(rx.valid)
        m.d.comb += Assert(~(last & rx.valid), "two bytes in consecutive cycles")
        return m


def check_host(*, plan=None, mutant: bool = False, depth: int = HOST_DEPTH, workdir=None,
               timeout: float = 300.0) -> SbyResult:
    """BMC of the weight-write rule at the byte interface (``mutant``: must FAIL)."""
    from .engine import small_plan

    plan = plan or small_plan((2, 3, 2), timesteps=1)
    harness = HostHarness(plan, AnyByteWrites if mutant else None)
    return run_sby("host" + ("_anybyte" if mutant else ""), harness, mode="bmc", engine="smtbmc yices",
                   depth=depth, workdir=workdir, timeout=timeout)


def check_core_weights(*, plan=None, mutant: bool = False, workdir=None, timeout: float = 300.0) -> SbyResult:
    """Proof (all states) that only the load port, while idle, writes the core's weight memories
    (``mutant``: must FAIL)."""
    from .engine import CUT_PRODUCTS, small_plan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = plan or small_plan((2, 3, 2), timesteps=1)
    return run_sby("core_weights" + ("_busy" if mutant else ""), CoreWeightHarness(plan, mutant), mode="prove",
                   engine="smtbmc yices", depth=CORE_WEIGHTS_DEPTH,
                   workdir=workdir, timeout=timeout, extra_script=CUT_PRODUCTS)


def check_uart_gap(*, divisor: int = 4, mutant: bool = False, workdir=None, timeout: float = 120.0) -> SbyResult:
    """Proof (k-induction) that the receiver's bytes are at least two cycles apart (``mutant``:
    must FAIL; its base case spans a whole frame, ``12 * divisor`` cycles, so the first byte shows)."""
    return run_sby("uart_gap" + ("_held" if mutant else ""), UartGapHarness(divisor, mutant), mode="prove",
                   engine="smtbmc yices", depth=12 * divisor if mutant else 4, workdir=workdir, timeout=timeout)
