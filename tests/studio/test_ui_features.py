"""The page's chart and navigation features, each in headless Chromium against a real server.

Live hover values in the legend, EMA smoothing and a log-scale loss axis, dark mode by
``prefers-color-scheme``, ``#job_<id>`` deep links, *view* loading a run's configuration
into the form, and the overlay clearing when a new run starts.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import SMALL, LiveServer, start_job





def new_page(browser: Browser, **context: Any) -> Page:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, **context)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors  # type: ignore[attr-defined]
    return pg


@pytest.fixture
def page(browser: Browser) -> Page:
    return new_page(browser)


def finished_run(srv: LiveServer, **config: Any) -> dict[str, Any]:
    """Train a small run to the end through the API; its stored metrics (config and epochs)."""
    with srv.client() as c:
        job_id = start_job(c, **{**SMALL, **config})
        deadline = time.monotonic() + 60
        while c.get(f"/api/training/status/{job_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline, f"{job_id} did not complete"
            time.sleep(0.1)
        return c.get(f"/api/runs/{job_id}/metrics").json()


def open_run(page: Page, srv: LiveServer, run: dict[str, Any]) -> None:
    page.goto(f"{srv.url}/#{run['job_id']}")
    expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    page.wait_for_function(f"window.studio.epochs.length === {len(run['epochs'])}")
    page.wait_for_timeout(200)  # the last render frame


def legend(page: Page, chart: str) -> dict[str, str]:
    """The chart's legend as {series label: shown value}."""
    return page.evaluate("""(sel) => Object.fromEntries([...document.querySelectorAll(sel + ' .u-legend .u-series')]
        .map((tr) => [tr.querySelector('.u-label').textContent.trim(), tr.querySelector('.u-value').textContent.trim()]))""",
                         chart)


def hover_epoch(page: Page, chart: str, key: str, epoch: float) -> None:
    """Move the mouse over the chart's plot area at x = epoch (halfway up; the last epoch just inside)."""
    pos = page.evaluate("""([sel, key, x]) => {
        const u = window.studio.charts[key], r = document.querySelector(sel + ' .u-over').getBoundingClientRect();
        return { x: r.left + Math.min(u.valToPos(x, 'x'), r.width - 2), y: r.top + r.height / 2 }; }""", [chart, key, epoch])
    page.mouse.move(pos["x"] + 4, pos["y"] + 4)  # enter the plot first, then settle on the point
    page.mouse.move(pos["x"], pos["y"], steps=4)
    page.wait_for_timeout(100)


def ema(values: list[float], w: float) -> list[float]:
    """TensorBoard's debiased exponential moving average."""
    out, last = [], 0.0
    for n, v in enumerate(values, start=1):
        last = last * w + (1 - w) * v
        out.append(last / (1 - w ** n))
    return out


def test_hover_shows_values_in_legend(make_server, page):
    srv = make_server()
    run = finished_run(srv)
    open_run(page, srv, run)
    before = legend(page, "#chart-loss")
    assert "train loss" in before and before["train loss"] in ("–", "")  # not hovered: no value yet

    shown = {}
    for epoch in (1, 3):
        hover_epoch(page, "#chart-loss", "loss", epoch)
        loss = legend(page, "#chart-loss")
        stored = run["epochs"][epoch - 1]
        assert float(loss["epoch"]) == pytest.approx(epoch)
        assert float(loss["train loss"]) == pytest.approx(stored["train_loss"], abs=5.1e-5)
        assert float(loss["val loss"]) == pytest.approx(stored["val_loss"], abs=5.1e-5)
        assert float(loss["batch loss"]) > 0
        shown[epoch] = loss["train loss"]

        hover_epoch(page, "#chart-acc", "acc", epoch)
        acc = legend(page, "#chart-acc")
        assert float(acc["val acc"]) == pytest.approx(stored["val_accuracy"], abs=5.1e-5)
        assert float(acc["train acc"]) == pytest.approx(stored["train_accuracy"], abs=5.1e-5)
    assert shown[1] != shown[3]  # the legend follows the cursor

    # Between two epochs the epoch curves show their nearest stored point, not a gap.
    hover_epoch(page, "#chart-loss", "loss", 2.1)
    assert float(legend(page, "#chart-loss")["train loss"]) == pytest.approx(run["epochs"][1]["train_loss"], abs=5.1e-5)
    assert page.errors == []  # type: ignore[attr-defined]


def test_smoothing_slider_and_log_axis(make_server, page):
    srv = make_server()
    run = finished_run(srv, epochs=5)
    open_run(page, srv, run)
    data = page.evaluate("window.studio.charts.loss.data")
    train = [e["train_loss"] for e in run["epochs"]]
    assert [v for v in data[2] if v is not None] == pytest.approx(train, rel=1e-12)  # default 0: raw
    expect(page.locator("#smoothing-value")).to_have_text("0.00")

    page.locator("#smoothing").fill("0.6")
    expect(page.locator("#smoothing-value")).to_have_text("0.60")
    page.wait_for_function("window.studio.charts.loss.data[2].filter((v) => v != null)[1] !== %r" % train[1])
    loss = page.evaluate("window.studio.charts.loss.data")
    acc = page.evaluate("window.studio.charts.acc.data")
    raw_batch = [y for _, y in page.evaluate("window.studio.batchLoss")]
    assert [v for v in loss[2] if v is not None] == pytest.approx(ema(train, 0.6), rel=1e-9)
    assert [v for v in loss[3] if v is not None] == pytest.approx(ema([e["val_loss"] for e in run["epochs"]], 0.6), rel=1e-9)
    assert [v for v in loss[1] if v is not None] == pytest.approx(ema(raw_batch, 0.6), rel=1e-9)
    assert [v for v in acc[3] if v is not None] == pytest.approx(ema([e["val_accuracy"] for e in run["epochs"]], 0.6),
                                                                 rel=1e-9)
    assert ema(train, 0.6) != pytest.approx(train)  # it did smooth

    assert page.evaluate("window.studio.charts.loss.scales.y.distr") == 1
    page.check("#log-y")
    page.wait_for_function("window.studio.charts.loss.scales.y.distr === 3")
    assert page.evaluate("window.studio.charts.loss.scales.y.log") == 10
    assert page.evaluate("window.studio.charts.acc.scales.y.distr") == 1  # accuracy stays linear
    relog = page.evaluate("window.studio.charts.loss.data")
    assert [v for v in relog[2] if v is not None] == pytest.approx(ema(train, 0.6), rel=1e-9)  # still smoothed
    page.uncheck("#log-y")
    page.wait_for_function("window.studio.charts.loss.scales.y.distr === 1")
    assert page.errors == []  # type: ignore[attr-defined]


def _rgb(css: str) -> tuple[float, ...]:
    if css.startswith("#") and len(css) == 7:
        return tuple(float(int(css[i:i + 2], 16)) for i in (1, 3, 5))
    inside = css[css.index("(") + 1:css.index(")")]
    return tuple(float(p) for p in inside.replace("/", ",").split(",")[:3])


def _luminance(rgb: tuple[float, ...]) -> float:
    def lin(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(_rgb(a)), _luminance(_rgb(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


COLORS_JS = """() => {
  const cs = (sel) => getComputedStyle(document.querySelector(sel));
  const u = window.studio.charts.loss;
  return { bg: cs('body').backgroundColor, ink: cs('body').color,
           card: cs('.panel').backgroundColor, muted: cs('.panel h3').color,
           button: cs('#btn-stop').backgroundColor, buttonInk: cs('#btn-stop').color,
           input: cs('input[name=epochs]').backgroundColor, inputInk: cs('input[name=epochs]').color,
           axis: u.axes[1].stroke(u, 1) };
}"""


def test_dark_mode_follows_color_scheme(make_server, browser):
    srv = make_server()
    seen = {}
    for scheme in ("light", "dark"):
        pg = new_page(browser, color_scheme=scheme)
        pg.goto(srv.url + "/")
        expect(pg.locator("#f-surrogate option")).to_have_count(6)
        pg.wait_for_function("window.studio.charts.loss !== undefined")
        seen[scheme] = c = pg.evaluate(COLORS_JS)
        for fg, bg in (("ink", "bg"), ("ink", "card"), ("buttonInk", "button"), ("inputInk", "input")):
            assert _contrast(c[fg], c[bg]) >= 7, (scheme, fg, bg, c)
        assert _contrast(c["muted"], c["card"]) >= 4.5, (scheme, c)
        assert pg.errors == []  # type: ignore[attr-defined]
    light, dark = seen["light"], seen["dark"]
    assert light["bg"] != dark["bg"] and light["ink"] != dark["ink"] and light["card"] != dark["card"]
    assert _luminance(_rgb(dark["bg"])) < 0.05 < 0.8 < _luminance(_rgb(light["bg"]))
    assert _luminance(_rgb(dark["ink"])) > _luminance(_rgb(light["ink"]))  # light text on dark ground
    assert _contrast(dark["axis"], dark["card"]) >= 7  # the chart axes are redrawn in the dark ink


def test_deep_link_opens_run_and_selection_updates_hash(make_server, page):
    srv = make_server()
    a = finished_run(srv, epochs=2)
    b = finished_run(srv, epochs=3, hidden=[20])
    open_run(page, srv, a)
    expect(page.locator("#job-id")).to_have_text(a["job_id"])
    assert page.evaluate("window.studio.epochs.map((e) => e.train_loss)") == [e["train_loss"] for e in a["epochs"]]
    assert page.evaluate("window.studio.charts.loss.data[2].filter((v) => v != null).length") == 2
    expect(page.locator(f"#jobs-table tr[data-job='{a['job_id']}']")).to_have_class("current", timeout=10_000)
    expect(page.locator("input[name=epochs]")).to_have_value("2")

    page.locator(f"#jobs-table tr[data-job='{b['job_id']}'] button.view").click()
    expect(page.locator("#job-id")).to_have_text(b["job_id"])
    page.wait_for_function(f"location.hash === '#{b['job_id']}'")
    page.wait_for_function("window.studio.epochs.length === 3")
    expect(page.locator("input[name=hidden]")).to_have_value("20")

    page.go_back()  # back to the first run's address opens it again
    page.wait_for_function(f"location.hash === '#{a['job_id']}'")
    expect(page.locator("#job-id")).to_have_text(a["job_id"])
    page.wait_for_function("window.studio.epochs.length === 2")

    page.goto("about:blank")
    page.goto(f"{srv.url}/#job_1")  # no such run: said so, nothing followed
    expect(page.locator("#form-error")).to_contain_text("job_1")
    expect(page.locator("#job-id")).to_have_text("—")
    assert page.errors == []  # type: ignore[attr-defined]


def test_view_loads_config_into_form(make_server, page):
    srv = make_server()
    with srv.client() as c:
        surrogate = [s["name"] for s in c.get("/api/training/surrogates").json() if s["available"]][-1]
    run = finished_run(srv, epochs=2, batch_size=32, lr=0.005, timesteps=6, hidden=[12, 12],
                       surrogate=surrogate, learn_beta=True, learn_threshold=False)
    page.goto(srv.url + "/")
    expect(page.locator("#f-surrogate option")).to_have_count(6)
    assert page.input_value("input[name=epochs]") == "10"  # the form's defaults before
    page.locator(f"#jobs-table tr[data-job='{run['job_id']}'] button.view").click()
    expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("input[name=epochs]")).to_have_value("2")
    expect(page.locator("input[name=batch_size]")).to_have_value("32")
    expect(page.locator("input[name=lr]")).to_have_value("0.005")
    expect(page.locator("input[name=timesteps]")).to_have_value("6")
    expect(page.locator("input[name=hidden]")).to_have_value("12, 12")
    expect(page.locator("#f-dataset")).to_have_value("synthetic")
    expect(page.locator("#f-surrogate")).to_have_value(surrogate)
    expect(page.locator("input[name=learn_beta]")).to_be_checked()
    expect(page.locator("input[name=learn_threshold]")).not_to_be_checked()
    # The form as loaded is what a new start would send.
    cfg = page.evaluate("readForm()")
    assert cfg == {k: run["config"][k] for k in cfg}
    assert page.errors == []  # type: ignore[attr-defined]


def test_overlay_clears_when_new_run_starts(make_server, page):
    srv = make_server()
    run = finished_run(srv, epochs=2)
    page.goto(srv.url + "/")
    expect(page.locator("#f-surrogate option")).to_have_count(6)
    page.locator(f"#jobs-table tr[data-job='{run['job_id']}'] button.overlay").click()
    expect(page.locator("#overlay-label")).to_contain_text(run["job_id"])
    page.wait_for_function("window.studio.charts.loss.series.length === 6 && window.studio.charts.acc.series.length === 6")

    page.fill("input[name=epochs]", "2")
    page.fill("input[name=hidden]", "16")
    page.fill("input[name=timesteps]", "5")
    page.click("#btn-train")
    page.wait_for_function(f"window.studio.job && window.studio.job !== '{run['job_id']}'")
    expect(page.locator("#overlay-label")).to_have_text("")
    assert page.evaluate("window.studio.overlay") is None
    page.wait_for_function("window.studio.charts.loss.series.length === 4 && window.studio.charts.acc.series.length === 4")
    expect(page.locator("#job-status")).to_have_text("completed", timeout=60_000)
    assert page.evaluate("window.studio.charts.loss.series.length") == 4  # and it stays cleared
    assert page.errors == []  # type: ignore[attr-defined]
