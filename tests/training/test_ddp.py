"""torchrun --nproc_per_node=2 with DistributedDataParallel (gloo, CPU) on digits."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sw.training import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_ranks_end_with_identical_weights(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    s1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert s0.keys() == s1.keys()
    for k in s0:
        assert torch.equal(s0[k], s1[k]), f"{k} differs between ranks"
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(i["world"] == 2 and i["sampler"] == "DistributedSampler" for i in info)
    assert info[0]["n_batches"] == 23  # 1437 samples / 2 ranks / batch 32
    assert info[0]["history"][-1]["val_acc"] > 0.8
    # the checkpoint written by rank 0 holds the same weights
    ck = load_checkpoint(tmp_path / "model.pt").state_dict()
    assert all(torch.equal(ck[k], s0[k]) for k in s0)
