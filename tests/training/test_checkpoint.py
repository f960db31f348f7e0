"""Checkpoints round-trip and fail clearly on corrupt or mismatched files."""

import pytest
import torch

from sw.training import (CheckpointError, ConvSpikingNet, LIFCell, SpikingNet, fast_sigmoid,
                         load_checkpoint, make_surrogate, save_checkpoint)


def _same_outputs(a, b, x):
    with torch.no_grad():
        ca, ma = a(x)
        cb, mb = b(x)
    assert torch.equal(ca, cb) and torch.equal(ma, mb)


def test_spikingnet_round_trip(tmp_path):
    torch.manual_seed(0)
    net = SpikingNet(16, 24, 5, n_layers=2, beta=0.8, surrogate_fn=fast_sigmoid.with_params(slope=7.0),
                     learn_beta=True, learn_threshold=True)
    with torch.no_grad():
        net.lifs[0].threshold.fill_(0.8)
    path = save_checkpoint(net, tmp_path / "sub" / "m.pt", epoch=3, val_acc=0.97)
    back = load_checkpoint(path)
    assert type(back) is SpikingNet and back.config == net.config
    assert back.checkpoint_extra == {"epoch": 3, "val_acc": 0.97}
    assert back.lifs[0].surrogate_fn == fast_sigmoid.with_params(slope=7.0)
    assert back.lifs[0].equation_params() == pytest.approx(net.lifs[0].equation_params())
    _same_outputs(net, back, torch.rand(10, 3, 16))


def test_convnet_round_trip(tmp_path):
    torch.manual_seed(0)
    net = ConvSpikingNet(n_output=4)
    back = load_checkpoint(save_checkpoint(net, tmp_path / "c.pt"))
    _same_outputs(net, back, torch.rand(3, 2, 1, 28, 28))


def test_corrupt_file(tmp_path):
    p = tmp_path / "bad.pt"
    p.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match=r"not a readable checkpoint \(not a torch zip archive\)"):
        load_checkpoint(p)
    good = save_checkpoint(SpikingNet(4, 4, 2), tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "trunc.pt")
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_not_our_format_and_arbitrary_pickles_refused(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(tmp_path / "plain.pt")
    torch.save({"format": "snn-ice40-checkpoint", "obj": LIFCell()}, tmp_path / "obj.pt")
    with pytest.raises(CheckpointError, match="holds pickled Python objects") as info:
        load_checkpoint(tmp_path / "obj.pt")
    # our own one-line reason, never torch's advice to load with weights_only=False
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)


def _tamper(path, fn):
    data = torch.load(path, weights_only=True)
    fn(data)
    torch.save(data, path)


def test_mismatches_name_the_culprit(tmp_path):
    p = save_checkpoint(SpikingNet(8, 6, 3), tmp_path / "m.pt")
    _tamper(p, lambda d: d["state_dict"].__setitem__("fcs.0.weight", torch.zeros(6, 9)))
    with pytest.raises(CheckpointError, match=r"fcs\.0\.weight.*shape"):
        load_checkpoint(p)
    p = save_checkpoint(SpikingNet(8, 6, 3), tmp_path / "m.pt")
    _tamper(p, lambda d: d["state_dict"].pop("fcs.1.bias"))
    with pytest.raises(CheckpointError, match=r"missing fcs\.1\.bias"):
        load_checkpoint(p)
    p = save_checkpoint(SpikingNet(8, 6, 3), tmp_path / "m.pt")
    _tamper(p, lambda d: d.__setitem__("class", "Transformer"))
    with pytest.raises(CheckpointError, match="unknown model class 'Transformer'"):
        load_checkpoint(p)
    p = save_checkpoint(SpikingNet(8, 6, 3), tmp_path / "m.pt")
    _tamper(p, lambda d: d["config"].__setitem__("n_layers", "two"))
    with pytest.raises(CheckpointError, match="config"):
        load_checkpoint(p)
    p = save_checkpoint(SpikingNet(8, 6, 3), tmp_path / "m.pt")
    _tamper(p, lambda d: d["state_dict"]["fcs.0.weight"].fill_(float("nan")))
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(p)
    p = save_checkpoint(SpikingNet(8, 6, 3), tmp_path / "m.pt")
    _tamper(p, lambda d: d.__setitem__("version", 99))
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(p)
    assert issubclass(CheckpointError, ValueError)


def test_surrogates_must_be_registered_to_be_saved(tmp_path):
    net = SpikingNet(4, 4, 2, surrogate_fn=lambda x: (x > 0).float())
    with pytest.raises(CheckpointError, match="registered"):
        save_checkpoint(net, tmp_path / "x.pt")
    mine = make_surrogate(lambda x, w: torch.ones_like(x) * w, name="test_ckpt_box", w=0.5)
    back = load_checkpoint(save_checkpoint(SpikingNet(4, 4, 2, surrogate_fn=mine),
                                           tmp_path / "y.pt"))
    assert back.lifs[0].surrogate_fn == mine
