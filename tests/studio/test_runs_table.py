"""Runs table, run names / tags / notes and the diagnoses panel.

API: ``PATCH /api/runs/{job_id}`` validation (422, short answers), an old database
without the new columns upgraded on open, ``/jobs`` listing the new fields.
Chromium against a real server: sorting by a column, three overlaid runs, editing
that survives a reload, the tag filter, and the diagnoses panel showing the stored
findings and per-layer dead / saturated fractions.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from sw.studio.store import SCHEMA_VERSION, Store

from .conftest import SMALL, read_events, start_job
from .test_ui_features import finished_run, new_page

ONE = {"epochs": 1, "hidden": [8], "timesteps": 5}




@pytest.fixture
def page(browser: Browser) -> Page:
    return new_page(browser)


def _row_ids(page: Page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#jobs-table tbody tr')].map((tr) => tr.dataset.job)")


def _open(page: Page, url: str, rows: int) -> None:
    page.goto(url + "/")
    expect(page.locator("#f-surrogate option")).to_have_count(6)
    expect(page.locator("#jobs-table tbody tr")).to_have_count(rows, timeout=10_000)


# ---------- API ------------------------------------------------------------------------------------
def test_patch_validates_and_jobs_lists_fields(make_server):
    srv = make_server()
    with srv.client() as c:
        job = start_job(c, **{**SMALL, "epochs": 1, "lr": 0.002, "learn_beta": True})
        res = c.patch(f"/api/runs/{job}", json={"name": "  baseline A ", "tags": ["base", "lif", "base", " x "],
                                                "notes": "first try"})
        assert res.status_code == 200, res.text
        assert res.json() == {"job_id": job, "name": "baseline A", "tags": ["base", "lif", "x"], "notes": "first try"}
        assert c.patch(f"/api/runs/{job}", json={"notes": "second"}).json()["tags"] == ["base", "lif", "x"]  # kept

        bad = [{"name": "n" * 101}, {"tags": [f"t{i}" for i in range(21)]}, {"tags": ["t" * 41]}, {"tags": [""]},
               {"tags": ["a,b"]}, {"tags": "base"}, {"notes": "x" * 2001}, {"name": 5}, {"colour": "red"},
               {"tags": ["t" * 30_000]}, {"notes": "y" * 30_000}, {"tags": list(range(8000))}]
        for body in bad:
            r = c.patch(f"/api/runs/{job}", json=body)
            assert r.status_code == 422, (body, r.text)
            assert len(r.content) < 600, (body, len(r.content))  # never an echo of the input
        assert c.patch("/api/runs/job_1", json={"name": "x"}).status_code == 404
        assert c.patch("/api/runs/nojob", json={"name": "x"}).status_code == 422
        assert c.patch(f"/api/runs/{job}", content=b"{", headers={"content-type": "application/json"}).status_code in (
            400, 422)

        listed = {j["job_id"]: j for j in c.get("/api/training/jobs").json()}[job]
        assert (listed["name"], listed["tags"], listed["notes"]) == ("baseline A", ["base", "lif", "x"], "second")
        assert (listed["surrogate"], listed["lr"], listed["hidden"], listed["timesteps"]) == (
            "atan_surrogate", 0.002, [16], 5)
        assert (listed["learn_beta"], listed["learn_threshold"]) == (True, False)

        cleared = c.patch(f"/api/runs/{job}", json={"name": "", "tags": [], "notes": None}).json()
        assert cleared == {"job_id": job, "name": None, "tags": [], "notes": None}


OLD_JOBS = """CREATE TABLE jobs (job_id TEXT PRIMARY KEY, status TEXT NOT NULL, config TEXT NOT NULL,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, reason TEXT, device TEXT, note TEXT{extra});
CREATE TABLE events (job_id TEXT NOT NULL, event_id INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
    ts REAL NOT NULL, PRIMARY KEY (job_id, event_id));"""
V2_EXTRA = """, epochs_done INTEGER NOT NULL DEFAULT 0, best_val_accuracy REAL, latest TEXT,
    last_event_id INTEGER NOT NULL DEFAULT 0, last_event_type TEXT, last_event_ts REAL"""


@pytest.mark.parametrize("version", [0, 2])
def test_old_database_gains_the_new_columns(tmp_path, make_server, version):
    db_path = tmp_path / "old.sqlite"
    db = sqlite3.connect(db_path)
    db.executescript(OLD_JOBS.format(extra=V2_EXTRA if version == 2 else ""))
    cfg = {**SMALL, "lr": 0.001, "surrogate": "atan_surrogate", "learn_beta": False, "learn_threshold": False}
    db.execute("INSERT INTO jobs (job_id, status, config, created_at, finished_at) VALUES (?,?,?,?,?)",
               ("job_1700000000000", "completed", json.dumps(cfg), 1.7e9, 1.7e9 + 5))
    epoch = {"epoch": 0, "train_loss": 1.0, "val_loss": 1.1, "train_accuracy": 0.5, "val_accuracy": 0.625,
             "layer_spike_rates": {"lifs.0": 0.1}, "param_snapshot": {}}
    db.execute("INSERT INTO events VALUES (?,?,?,?,?)", ("job_1700000000000", 1, "epoch", json.dumps(epoch), 1.7e9))
    if version == 2:
        db.execute("UPDATE jobs SET epochs_done=1, best_val_accuracy=0.625, last_event_id=1")
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()

    store = Store(db_path)
    try:
        rec = store.job("job_1700000000000")
        assert (rec.name, rec.tags, rec.notes, rec.epochs_done, rec.best_val_accuracy) == (None, [], None, 1, 0.625)
        store.update_job(rec.job_id, name="old run", tags=["legacy"])
        assert (store.job(rec.job_id).name, store.job(rec.job_id).tags) == ("old run", ["legacy"])
    finally:
        store.close()
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {"name", "tags", "notes"} <= {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    db.close()

    srv = make_server(db_path=db_path)  # and a server on it lists and edits the old run
    with srv.client() as c:
        (row,) = c.get("/api/training/jobs").json()
        assert (row["name"], row["tags"], row["notes"], row["best_val_accuracy"]) == ("old run", ["legacy"], None, 0.625)
        assert c.patch("/api/runs/job_1700000000000", json={"notes": "from before"}).status_code == 200
        assert c.get("/api/training/jobs").json()[0]["notes"] == "from before"


# ---------- Chromium -------------------------------------------------------------------------------
def test_sort_by_column_flips_order_and_table_fits(make_server, page):
    srv = make_server()
    runs = [finished_run(srv, **ONE, lr=lr) for lr in (0.002, 0.01, 0.001)]
    _open(page, srv.url, 3)
    ids = [r["job_id"] for r in runs]
    assert _row_ids(page) == ids[::-1]  # newest first by default
    by_lr = [r["job_id"] for r in sorted(runs, key=lambda r: r["config"]["lr"])]

    page.click("#jobs-table th[data-sort=lr]")
    expect(page.locator("#jobs-table th[data-sort=lr]")).to_have_attribute("aria-sort", "ascending")
    assert _row_ids(page) == by_lr
    page.click("#jobs-table th[data-sort=lr]")
    expect(page.locator("#jobs-table th[data-sort=lr]")).to_have_attribute("aria-sort", "descending")
    assert _row_ids(page) == by_lr[::-1]
    page.wait_for_timeout(3300)  # a periodic refresh keeps the chosen order
    assert _row_ids(page) == by_lr[::-1]
    for col in ("surrogate", "hidden", "timesteps", "learn_beta", "learn_threshold", "best_val_accuracy", "status",
                "name"):
        expect(page.locator(f"#jobs-table th[data-sort={col}]")).to_have_count(1)

    # The table scrolls inside its panel; the page itself never scrolls sideways.
    fit = page.evaluate("""() => ({ page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth,
        wrap: document.querySelector('#jobs-wrap').getBoundingClientRect().right,
        side: document.querySelector('.side').getBoundingClientRect().right })""")
    assert fit["page"] <= fit["view"] and fit["wrap"] <= fit["side"] + 1, fit
    assert page.errors == []  # type: ignore[attr-defined]


def test_three_selected_runs_overlay_with_own_colours(make_server, page):
    srv = make_server()
    runs = [finished_run(srv, **{**ONE, "epochs": 2, "seed": s}) for s in (1, 2, 3)]
    _open(page, srv.url, 3)
    for r in runs:
        page.check(f"#jobs-table tr[data-job='{r['job_id']}'] input.sel")
    page.wait_for_function("window.studio.overlays.length === 3")
    page.wait_for_function("window.studio.charts.loss.series.length === 10 && window.studio.charts.acc.series.length === 10")
    for r in runs:
        expect(page.locator("#overlay-label")).to_contain_text(r["job_id"])
    series = page.evaluate("window.studio.charts.loss.series.slice(4).map((s) => ({ label: s.label, stroke: s._stroke }))")
    labels = [s["label"] for s in series]
    assert len(set(labels)) == 6 and all(f"…{r['job_id'][-6:]} train" in labels for r in runs)
    colours = page.evaluate("window.studio.overlays.map((o) => o.color)")
    assert len(set(colours)) == 3
    legend = page.evaluate("[...document.querySelectorAll('#chart-loss .u-legend .u-series .u-label')].map((e) => e.textContent)")
    assert sum(label.endswith(" val") and label.startswith("…") for label in legend) == 3
    data = page.evaluate("window.studio.charts.acc.data")
    for k, r in enumerate(runs):  # each overlay carries its own run's stored curve
        assert [v for v in data[4 + 2 * k + 1] if v is not None] == [e["val_accuracy"] for e in r["epochs"]]

    page.uncheck(f"#jobs-table tr[data-job='{runs[1]['job_id']}'] input.sel")
    page.wait_for_function("window.studio.charts.loss.series.length === 8")
    expect(page.locator("#overlay-label")).not_to_contain_text(runs[1]["job_id"])
    assert page.errors == []  # type: ignore[attr-defined]


def test_edit_name_tags_notes_persists_after_reload(make_server, page):
    srv = make_server()
    run = finished_run(srv, **ONE)
    job = run["job_id"]
    _open(page, srv.url, 1)
    page.click(f"#jobs-table tr[data-job='{job}'] button.edit")
    expect(page.locator("#run-edit")).to_be_visible()
    page.fill("#run-edit input[name=name]", "wide net")
    page.fill("#run-edit input[name=tags]", "baseline, atan ,  lr-sweep")
    page.fill("#run-edit textarea[name=notes]", "good run\nkeep it")
    page.click("#btn-save-run")
    expect(page.locator("#run-edit")).to_be_hidden()
    expect(page.locator(f"#jobs-table tr[data-job='{job}'] td.name")).to_have_text("wide net")

    page.reload()
    row = page.locator(f"#jobs-table tr[data-job='{job}']")
    expect(row.locator("td.name")).to_have_text("wide net", timeout=10_000)
    expect(row.locator("td.tags")).to_have_text("baseline, atan, lr-sweep")
    row.locator("button.edit").click()
    expect(page.locator("#run-edit textarea[name=notes]")).to_have_value("good run\nkeep it")
    expect(page.locator("#run-edit input[name=tags]")).to_have_value("baseline, atan, lr-sweep")
    with srv.client() as c:
        listed = c.get("/api/training/jobs").json()[0]
    assert (listed["name"], listed["tags"], listed["notes"]) == ("wide net", ["baseline", "atan", "lr-sweep"],
                                                                 "good run\nkeep it")

    page.fill("#run-edit input[name=tags]", "x" * 41)  # refused by the API: said so, nothing changed
    page.click("#btn-save-run")
    expect(page.locator("#edit-error")).to_contain_text("40")
    expect(row.locator("td.tags")).to_have_text("baseline, atan, lr-sweep")
    assert page.errors == []  # type: ignore[attr-defined]


def test_tag_filter(make_server, page):
    srv = make_server()
    runs = [finished_run(srv, **ONE, seed=s) for s in (1, 2, 3)]
    tags = [["baseline", "atan"], ["baseline", "sigmoid"], ["sweep"]]
    with srv.client() as c:
        for r, t in zip(runs, tags):
            assert c.patch(f"/api/runs/{r['job_id']}", json={"tags": t}).status_code == 200
    _open(page, srv.url, 3)
    ids = [r["job_id"] for r in runs]
    page.fill("#tag-filter", "base")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(2)
    assert set(_row_ids(page)) == {ids[0], ids[1]}
    page.fill("#tag-filter", "baseline, sig")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(1)
    assert _row_ids(page) == [ids[1]]
    page.fill("#tag-filter", "nothing")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(0)
    expect(page.locator("#jobs-hint")).to_contain_text("No run")
    page.fill("#tag-filter", "")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(3)
    assert page.errors == []  # type: ignore[attr-defined]


def test_diagnoses_panel_shows_findings_and_layer_fractions(make_server, page):
    srv = make_server()
    run = finished_run(srv, epochs=2, hidden=[16], timesteps=5, batch_size=64)
    job = run["job_id"]
    with srv.client() as c:
        events = read_events(c, job, params={"follow": "false"})
    diagnoses = [e["data"] for e in events if e["event"] == "diagnosis"]
    last = [e["data"] for e in events if e["event"] == "epoch"][-1]
    assert diagnoses, "this small run is expected to show dead neurons"
    assert set(last["layer_dead_fraction"]) == set(last["layer_saturated_fraction"]) == set(last["layer_spike_rates"])
    assert last["layer_dead_fraction"] == run["epochs"][-1]["layer_dead_fraction"]  # also in /metrics

    page.goto(f"{srv.url}/#{job}")
    expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    keys = {f"{d['category']}@{d['layer']}" for d in diagnoses}
    expect(page.locator("#findings tbody tr")).to_have_count(len(keys))
    shown = page.evaluate("""[...document.querySelectorAll('#findings tbody tr')].map((tr) => ({ key: tr.dataset.key,
        state: tr.querySelector('.state').textContent, sev: tr.querySelector('.sev').textContent }))""")
    assert {s["key"] for s in shown} == keys
    newest = {f"{d['category']}@{d['layer']}": d for d in diagnoses}
    for s in shown:
        assert s["state"] == ("active" if s["key"] in last["active_findings"] else "resolved")
        assert s["sev"] == newest[s["key"]]["severity"]

    cells = page.evaluate("""[...document.querySelectorAll('#layer-health tbody tr')].map((tr) => [tr.dataset.layer,
        ...['rate', 'dead', 'saturated'].map((c) => [tr.querySelector('.' + c).dataset.value,
                                                     tr.querySelector('.' + c).textContent])])""")
    assert [c[0] for c in cells] == list(last["layer_spike_rates"])
    for layer, rate, dead, sat in cells:
        for (value, text), stored in ((rate, last["layer_spike_rates"][layer]), (dead, last["layer_dead_fraction"][layer]),
                                      (sat, last["layer_saturated_fraction"][layer])):
            assert float(value) == stored
            assert text == f"{100 * stored:.1f}%"
    assert page.errors == []  # type: ignore[attr-defined]


def test_hidden_sizes_hint_matches_api(make_server, page):
    srv = make_server()
    page.goto(srv.url + "/")
    expect(page.locator("#f-surrogate option")).to_have_count(6)
    cases: dict[str, Any] = {"128": True, "64, 32": True, "1,1024,7,3": True, " 12 , 12 ": True, "0": False,
                             "1025": False, "1,2,3,4,5": False, "12,": False, "abc": False, "": False}
    with srv.client() as c:
        for text, ok in cases.items():
            page.fill("input[name=hidden]", text)
            form_ok = page.evaluate("document.querySelector('input[name=hidden]').checkValidity() && "
                                    "document.querySelector('input[name=hidden]').value.trim() !== ''")
            assert form_ok == ok, text
            hidden = [int(s) for s in text.split(",") if s.strip().isdigit()] if ok else None
            if ok:  # what the form would send is accepted...
                res = c.post("/api/training/start", json={**ONE, "hidden": hidden})
                assert res.status_code == 200, (text, res.text)
                c.post("/api/training/stop", json={"job_id": res.json()["job_id"]})
    for bad in ([0], [1025], [1, 2, 3, 4, 5]):  # ...and what it refuses the API refuses too
        with srv.client() as c:
            assert c.post("/api/training/start", json={**ONE, "hidden": bad}).status_code == 422
    expect(page.locator("#hidden-hint")).to_contain_text("1–1024")
    assert page.errors == []  # type: ignore[attr-defined]
