"""``create_app()`` works without its startup having run: a bare TestClient, or mounted."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sw.studio import StudioSettings, create_app

LOCAL = "http://127.0.0.1"  # the Host the app answers to (TestClient's default "testserver" is refused)


def _runner(ctx, config):  # never called: no job is started here
    raise AssertionError("no training in these tests")


def _settings(tmp_path) -> StudioSettings:
    return StudioSettings(db_path=tmp_path / "studio.db", torch_threads=1, token=None)


def test_bare_test_client_without_lifespan(tmp_path):
    app = create_app(_settings(tmp_path), runner=_runner)
    client = TestClient(app, base_url=LOCAL)  # no `with`: the startup never runs
    try:
        assert client.get("/api/training/jobs").json() == []
        assert client.get("/api/training/status/job_1").status_code == 404
        assert client.get("/api/training/status/nonsense").status_code == 404
        assert client.get("/api/training/surrogates").status_code == 200
    finally:
        app.state.close()
    assert "manager" not in app.state._state  # closed: a later request would build a fresh one


def test_mounted_in_another_app(tmp_path):
    studio = create_app(_settings(tmp_path), runner=_runner)
    outer = FastAPI()
    outer.mount("/studio", studio)
    with TestClient(outer, base_url=LOCAL) as client:  # runs only the outer app's lifespan
        assert client.get("/studio/api/training/jobs").json() == []
        assert client.get("/studio/api/training/stream/job_42").status_code == 404
    studio.state.close()


def test_lifespan_builds_once_and_shuts_down(tmp_path):
    app = create_app(_settings(tmp_path), runner=_runner)
    with TestClient(app, base_url=LOCAL) as client:
        manager = app.state.manager
        client.get("/api/training/jobs")
        assert app.state.manager is manager  # the same one serves every request
    assert "manager" not in app.state._state
