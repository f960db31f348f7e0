"""Tests of sw.profiling (SpikeProfiler)."""
