"""hw.cores.link: frame sizes and the throughput model (closed form == event replay)."""

from types import SimpleNamespace

import pytest

from hw.cores import link

DIGITS = SimpleNamespace(n_input=64, n_output=10, timesteps=25)


def test_frame_sizes():
    assert link.sample_frame_bytes(64, "P") == link.sample_frame_bytes(64, "p") == 65
    assert link.sample_frame_bytes(64, "S") == 129
    assert link.reply_bytes(10, 25, "S") == link.reply_bytes(10, 25, "P") == 1 + 20 + 2 + 4
    assert link.reply_bytes(10, 25, "p") == 1 + 10 + 1
    assert link.reply_bytes(10, 300, "s") == 1 + 20 + 1           # T >= 256: u16 counts
    assert link.reply_bytes(300, 8, "p") == 1 + 300 + 2            # > 256 classes: u16 class
    assert link.load_frame_bytes(3) == 12


def _replayed_period(n_in, n_out, T, div, cycles, command, window, react, n=80, m=24):
    """Mean reply spacing over the last ``m`` samples (a multiple of every window: the spacing
    may alternate within a window)."""
    s = link.stream_schedule(n_in, n_out, T, div, [cycles] * n, command, window, react)
    return (s.end[-1] - s.end[-1 - m]) / m


@pytest.mark.parametrize("n_in,n_out,T,div,cycles,command,window,react", [
    (64, 10, 25, 8, 20300, "p", 2, 0),        # compute bound (digits at 3 Mbaud)
    (64, 10, 25, 208, 20300, "p", 2, 0),      # rx bound (115200 baud)
    (5, 3, 6, 8, 280, "P", 2, 0),             # tx bound (full replies)
    (5, 3, 6, 8, 280, "s", 2, -3),
    (64, 10, 25, 8, 20300, "p", 2, 24000),    # credit bound: a host that reacts in 1 ms
    (64, 10, 25, 8, 20300, "p", 4, 24000),    # ... which four banks hide
    (5, 3, 6, 4, 280, "p", 4, 0),
])
def test_closed_form_equals_event_replay(n_in, n_out, T, div, cycles, command, window, react):
    closed = link.steady_period(n_in, n_out, T, div, cycles, command, window, react)
    assert _replayed_period(n_in, n_out, T, div, cycles, command, window, react) == pytest.approx(closed, abs=1e-6)


def test_throughput_digits_at_3_mbaud_and_115200():
    fast = link.throughput(DIGITS, 24e6, 8, 20300, 40000)
    assert fast["baud"] == 3_000_000 and fast["divisor"] == 8
    assert fast["compute"] == {"mean": round(24e6 / 20300, 1), "worst_case": 600.0}
    # compute bound: only the latch (n_out + 3 cycles) does not overlap
    assert fast["end_to_end"]["mean"] == round(24e6 / (20300 + 13), 1)
    assert fast["end_to_end"]["worst_case"] <= fast["compute"]["worst_case"]
    assert fast["bytes_per_sample"] == {"rx": 65, "tx": 12}
    slow = link.throughput(DIGITS, 24e6, 208, 20300, 40000, command="S")
    assert slow["end_to_end"]["mean"] == round(24e6 / (129 * 10 * 208), 1)     # the rx line limits
    assert slow["end_to_end"]["mean"] < 100 < slow["compute"]["mean"]


def test_host_latency_and_banks():
    ideal = link.throughput(DIGITS, 24e6, 8, 20300, 40000)["end_to_end"]["mean"]
    late = link.throughput(DIGITS, 24e6, 8, 20300, 40000, host_latency_s=1e-3)["end_to_end"]["mean"]
    hidden = link.throughput(DIGITS, 24e6, 8, 20300, 40000, window=4, host_latency_s=1e-3)["end_to_end"]["mean"]
    assert late < 1000 < ideal and hidden == ideal


def test_bad_divisor():
    with pytest.raises(ValueError, match="divisor"):
        link.throughput(DIGITS, 24e6, 2, 100, 100)
