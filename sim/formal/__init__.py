"""``sim.formal``: SymbiYosys proofs about the generated hardware (docs: ``docs/formal.md``).

* :mod:`sim.formal.sby` -- :func:`~sim.formal.sby.run_sby`, one sby task on an Amaranth harness
  (:func:`~sim.formal.sby.require_tools`: the executables, or an error naming the pip package);
* :mod:`sim.formal.neuron` -- every neuron datapath equals the per-operation saturating
  reference (never wraps);
* :mod:`sim.formal.engine` -- every layer command takes the cycle model's count (``FIRST``,
  ``STEP`` exactly, ``PREP`` at most its worst case);
* :mod:`sim.formal.host` -- no byte sequence writes a weight except a well-formed ``'W'`` frame.
"""
