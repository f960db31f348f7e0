"""``sim.tb.host_stream``: stream sample frames through ``HostInterface``'s UART pins in the RTL simulator (cocotb).

``run_stream(plan, phases, divisor=...)`` writes the host top's Verilog
(``snn_host``), writes the plan's host-loaded weights straight through the boot
port (as a flash loader would), then plays each phase's frames into ``rx`` at the
UART bit timing, keeping the protocol's flow-control rule, and records what comes
back on ``tx`` (bench: ``sim.tb.stream_tb``).  Frames are plain bytes: build them
with ``sw.host.protocol``; parse the replies with it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hw.cores.link import BITS_PER_BYTE, INFO_REPLY_BYTES, reply_bytes

__all__ = ["StreamPhase", "run_stream"]

TOPLEVEL = "snn_host"


@dataclass
class StreamPhase:
    """What one phase of frames produced.

    Attributes:
        replies: the replies, one ``bytes`` per frame, in order.
        send: cycle of each frame's first start bit on ``rx``.
        reply_start, reply_end: cycle of each reply's first start bit / end of its last stop bit.
    """

    replies: list[bytes]
    send: np.ndarray
    reply_start: np.ndarray
    reply_end: np.ndarray

    @property
    def cycles(self) -> int:
        """First start bit of the phase's first frame to the end of its last reply byte."""
        return int(self.reply_end[-1] - self.send[0])


def run_stream(plan: Any, phases: Sequence[Sequence[bytes]], *, divisor: int = 8, banks: int = 2,
               window: int | None = None, boot: bool = True, weight_writes: bool = True,
               build_dir: str | Path | None = None) -> list[StreamPhase]:
    """Play ``phases`` (lists of frames) through ``HostInterface(plan, divisor, banks)`` in the RTL simulator.

    Parameters:
        plan: the network plan.
        phases: frames per phase; a phase starts when every reply of the one before it arrived.
        divisor: UART clock cycles per bit.
        banks: the device's input banks.
        window: frames the host keeps in flight (default ``banks``, the protocol's rule; more
            breaks the rule on purpose, to see the device refuse the extra frames).
        boot: write the host-loaded banks through the boot port and raise ``boot_done`` first.
        weight_writes: build the interface with the ``'W'`` command (``HostInterface``'s parameter).
        build_dir: where Verilog, simulator build and logs go (a temporary folder if ``None``).
    """
    from hw.cores.host_io import HostInterface
    from sim.tb.network import spram_model
    from sim.tb.runner import OPTIMIZE_CYCLES, run_cocotb, work_folder
    from sim.tb.verilog_cache import component_verilog

    with work_folder(build_dir, "snn_stream_") as build_dir:
        top = build_dir / f"{TOPLEVEL}.v"
        top.write_text(component_verilog(HostInterface, plan, divisor, banks, weight_writes=weight_writes,
                                         name=TOPLEVEL))
        sources = [top] + ([spram_model(build_dir / "sb_spram256ka.v")] if plan.uses_spram else [])
        addrs, words = plan.load_words(only_needed=True) if boot else (np.zeros(0, np.int64),) * 2
        arrays: dict[str, Any] = {"div": divisor, "window": banks if window is None else window, "n_out": plan.n_output, "timesteps": plan.timesteps,
                                  "boot_addr": addrs, "boot_data": words, "boot_done": int(boot)}
        # a reply overdue by this many cycles means the device is stuck (the bench stops)
        longest = max((len(f) for frames in phases for f in frames), default=1)
        arrays["timeout"] = 4 * (plan.cycles() + (longest + INFO_REPLY_BYTES
                                                  + reply_bytes(plan.n_output, plan.timesteps, "S"))
                                 * BITS_PER_BYTE * divisor * (banks if window is None else window))
        for i, frames in enumerate(phases):
            arrays[f"p{i}_bytes"] = np.frombuffer(b"".join(frames), dtype=np.uint8)
            arrays[f"p{i}_sizes"] = np.array([len(f) for f in frames], dtype=np.int64)
        data, out = build_dir / "stream.npz", build_dir / "stream_out.npz"
        out.unlink(missing_ok=True)
        np.savez(data, **arrays)
        n_frames = sum(len(frames) for frames in phases)
        n_bytes = sum(len(f) for frames in phases for f in frames)
        clocks = n_frames * plan.cycles() + n_bytes * BITS_PER_BYTE * divisor  # worst-case inferences + line time
        run_cocotb(verilog_sources=sources, toplevel=TOPLEVEL, test_module="sim.tb.stream_tb",
                   ports_only=True, build_dir=build_dir / "sim",
                   extra_env={"SNN_STREAM_DATA": str(data.resolve()), "SNN_STREAM_OUT": str(out.resolve())},
                   optimize=clocks >= OPTIMIZE_CYCLES)
        result = []
        with np.load(out) as res:
            for i in range(len(phases)):
                flat = res[f"p{i}_replies"].tobytes()
                ends = np.cumsum(res[f"p{i}_reply_sizes"])
                replies = [flat[a:b] for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]
                result.append(StreamPhase(replies, res[f"p{i}_send"].astype(np.int64),
                                          res[f"p{i}_reply_start"].astype(np.int64),
                                          res[f"p{i}_reply_end"].astype(np.int64)))
        return result
