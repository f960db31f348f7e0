"""The seed 003 example of docs/training.md: the block itself is executed (slow: 800 BPTT steps).

Seed 003 (brainpy): loss 0.5279 at step 100 -> 0.0628 at step 800, accuracy 0.438 -> 0.844.
Issue 17 asks for loss ~0.06 and accuracy >= 0.84 after 800 steps.  The block is run as
written (``torch.manual_seed(0)``) and with seeds 1 and 2, on one torch thread (with two
threads the reduction order, and so the last digits, changed from run to run on the shared
box).  Each seed's losses must fall steadily into the seed's range; the accuracy criterion is
the mean over the three seeds >= 0.84 and each seed >= 0.82, not every seed >= 0.84: the
accuracy counts 128 labels (one example is 0.008) and which few examples end on the wrong
side moves with the float summation order alone (docs/training.md has the measured figures:
one version of the code put seed 0 at 0.836, another seed 1 at 0.828).
"""

import contextlib
import io
import re
import time
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"
SEED_CALL = "torch.manual_seed(0)"


def _example() -> str:
    """The first python block of the seed 003 section, as the docs print it."""
    text = DOC.read_text()
    section = text[text.index("## Brain-dynamics models (seed 003)"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _run(code: str) -> tuple[list[float], float, float]:
    """Execute ``code``; return the printed losses and the accuracies before / after."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/training.md", "exec"), {"__name__": "docs_example"})
    text = out.getvalue()
    losses = [float(x) for x in re.findall(r"loss ([0-9.]+)", text)]
    before, after = (float(x) for x in re.findall(r"accuracy \w+ training: ([0-9.]+)", text))
    return losses, before, after


def test_example_is_in_the_docs_with_the_seed_recipe():
    code = _example()
    compile(code, "docs/training.md", "exec")
    assert code.count(SEED_CALL) == 1  # the slow test swaps this one call for other seeds
    # the seed's task and hyper-parameters
    assert "num_inputs, num_hidden, num_outputs = 100, 4, 2" in code
    assert "num_steps, batch_size = 100, 128" in code
    assert "range(1, 801)" in code and "lr=3e-3" in code
    assert "detach_reset=False" in code and "SpikingSequential" in code


SEEDS = (0, 1, 2)


@pytest.mark.slow
def test_seed003_example_reaches_the_seed_figures():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one reduction order: the figures in the docs are reproducible
    try:
        runs, seconds = {}, {}
        for seed in SEEDS:
            t0 = time.perf_counter()
            runs[seed] = _run(_example().replace(SEED_CALL, f"torch.manual_seed({seed})"))
            seconds[seed] = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    for seed, (losses, before, after) in runs.items():
        print(f"seed {seed}: loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
              f"accuracy {before:.3f} -> {after:.3f}, {seconds[seed]:.1f} s")
        assert len(losses) == 8                                   # every 100 of 800 steps
        assert all(a > b for a, b in zip(losses, losses[1:]))     # falls steadily, as the seed's
        assert 0.4 < losses[0] < 0.7                              # seed 003: 0.5279 at step 100
        assert 0.03 < losses[-1] < 0.09                           # seed 003: 0.0628 at step 800
        assert before < 0.6 and after >= 0.82                     # seed 003: 0.438 -> 0.844
    mean = sum(after for _, _, after in runs.values()) / len(runs)
    assert mean >= 0.84                                           # seed 003: 0.844
