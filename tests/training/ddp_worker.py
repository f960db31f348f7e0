"""Worker launched by test_ddp.py under ``torchrun --nproc_per_node=2``.

Each rank seeds its model differently (DDP must broadcast rank 0's weights),
trains on its shard of digits, and saves its final weights to OUT/rank<N>.pt.
"""

import json
import sys
from pathlib import Path

import torch

from sw.training import SpikingNet, fit, load_digits_data, make_loaders
from sw.training.distributed import cleanup_distributed, init_distributed, wrap_ddp


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank, world = init_distributed("gloo")
    torch.manual_seed(100 + rank)
    X_tr, X_te, y_tr, y_te = load_digits_data()
    train, test = make_loaders(X_tr, X_te, y_tr, y_te, batch_size=32, seed=0)
    model = wrap_ddp(SpikingNet(64, 64, 10, n_layers=1))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    result = fit(model, train, opt, 25, epochs=2, val_loader=test, progress=False,
                 checkpoint_path=out / "model.pt")
    torch.save(model.module.state_dict(), out / f"rank{rank}.pt")
    (out / f"rank{rank}.json").write_text(json.dumps({
        "world": world, "history": result.history,
        "n_batches": len(train), "sampler": type(train.sampler).__name__}))
    cleanup_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
