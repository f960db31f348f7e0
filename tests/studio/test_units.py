"""Small pieces without a server: settings, SSE framing, datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sw.studio.datasets import availability, load_dataset, synthetic
from sw.studio.events import format_sse, json_safe
from sw.studio.settings import ENV_DB, ENV_MNIST_DIR, StudioSettings
from sw.studio.store import StoredEvent


@pytest.mark.parametrize("field,value", [("max_concurrent_jobs", 0), ("torch_threads", 0),
                                         ("heartbeat_s", 0.0), ("batch_events_per_epoch", 0)])
def test_settings_reject_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        StudioSettings(db_path=Path("x"), **{field: value})
    with pytest.raises(ValueError, match="max_active_jobs"):
        StudioSettings(db_path=Path("x"), max_concurrent_jobs=4, max_active_jobs=2)


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_DB, str(tmp_path / "a.sqlite"))
    monkeypatch.setenv(ENV_MNIST_DIR, str(tmp_path))
    s = StudioSettings()
    assert (s.db_path, s.mnist_dir) == (tmp_path / "a.sqlite", tmp_path)


def test_sse_frame_is_one_message_with_the_id():
    frame = format_sse(StoredEvent(7, "epoch", {"epoch": 1, "note": "a\nb"}, 0.0))
    lines = frame.split("\n")
    assert frame.endswith("\n\n") and lines[0] == "id: 7" and lines[1].startswith("data: ")
    assert len([line for line in lines if line]) == 2  # newlines inside data are JSON-escaped
    assert json.loads(lines[1][6:]) == {"event": "epoch", "data": {"epoch": 1, "note": "a\nb"}, "id": 7}
    assert json_safe({"a": [float("inf"), 1.5, (2, float("nan"))]}) == {"a": [None, 1.5, [2, None]]}


def test_synthetic_is_reproducible_and_separable():
    a, b, c = synthetic(0), synthetic(0), synthetic(1)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert set(np.unique(a.y_train)) == set(range(10))
    # nearest class mean on the training set classifies the validation set well: the task is learnable
    means = np.stack([a.x_train[a.y_train == k].mean(0) for k in range(10)])
    pred = np.argmin(((a.x_val[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == a.y_val).mean() > 0.9


def test_unknown_dataset_and_mnist_fallback(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar")
    fallback = load_dataset("mnist", tmp_path)
    assert fallback.name == "synthetic" and "train-images-idx3-ubyte" in fallback.note
    assert {d["name"]: d["available"] for d in availability(None)} == {
        "synthetic": True, "digits": True, "mnist": False}
