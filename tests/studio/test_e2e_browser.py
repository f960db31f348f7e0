"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Open the page, start a synthetic job from the form, watch the charts draw,
stop it, see ``stopped``, overlay it, and save a screenshot under tmp_path.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect


# Pixels of the train-loss stroke (#1f77b4) on the loss chart's canvas.
COUNT_STROKE_PIXELS = """(sel) => {
  const c = document.querySelector(sel + ' canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (Math.abs(d[i] - 31) < 25 && Math.abs(d[i + 1] - 119) < 25 && Math.abs(d[i + 2] - 180) < 25 && d[i + 3] > 200) n++;
  return n;
}"""


@pytest.fixture
def page(browser):
    """A page of the ``browser`` fixture (``tests/studio/conftest.py``) that collects page errors."""
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg


def test_train_watch_stop_in_chromium(make_server, page, tmp_path):
    srv = make_server(heartbeat_s=1.0)
    page.goto(srv.url + "/")
    expect(page.locator("#f-surrogate option")).to_have_count(6)
    expect(page.locator("#chart-loss canvas")).to_have_count(1)  # empty chart drawn at start (after init)
    blank = page.evaluate(COUNT_STROKE_PIXELS, "#chart-loss")

    page.select_option("#f-dataset", "synthetic")
    page.fill("input[name=epochs]", "100")
    page.fill("input[name=batch_size]", "32")
    page.fill("input[name=timesteps]", "10")
    page.fill("input[name=hidden]", "48, 24")
    page.check("input[name=learn_beta]")
    page.click("#btn-train")

    expect(page.locator("#job-status")).to_have_text("running", timeout=60_000)
    page.wait_for_function("window.studio.epochs.length >= 3", timeout=60_000)
    page.wait_for_timeout(300)  # one animation frame for the last render
    points = page.evaluate("""() => ({
        loss: window.studio.charts.loss.data[2].filter((v) => v != null).length,
        acc: window.studio.charts.acc.data[3].filter((v) => v != null).length,
        batch: window.studio.charts.loss.data[1].filter((v) => v != null).length,
        params: window.studio.charts.params.series.length - 1 })""")
    assert points["loss"] >= 3 and points["acc"] >= 3 and points["batch"] > points["loss"]
    assert points["params"] == 3  # beta of lifs.0, lifs.1, lifs.2
    assert page.evaluate(COUNT_STROKE_PIXELS, "#chart-loss") > blank + 50, "no train-loss line drawn"
    expect(page.locator("#rates .rate-row")).to_have_count(3)
    expect(page.locator("#log li.epoch").first).to_contain_text("epoch 1: train loss")
    expect(page.locator("#log li.config")).to_contain_text("64→48→24→10")

    page.click("#btn-stop")
    expect(page.locator("#job-status")).to_have_text("stopped", timeout=30_000)
    expect(page.locator("#log li.stopped")).to_have_count(1)
    expect(page.locator("#btn-stop")).to_be_disabled()
    job_id = page.locator("#job-id").inner_text()
    row = page.locator(f"#jobs-table tr[data-job='{job_id}']")
    expect(row.locator("td.st")).to_have_text("stopped", timeout=10_000)
    assert row.locator("a.csv").get_attribute("href") == f"/api/runs/{job_id}/metrics.csv"

    row.locator("button.overlay").click()
    expect(page.locator("#overlay-label")).to_contain_text(job_id)
    page.wait_for_function("window.studio.charts.loss.series.length === 6")
    page.wait_for_timeout(300)

    shot = tmp_path / "studio.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert page.errors == []  # type: ignore[attr-defined]


def test_token_page_in_chromium(make_server, page):
    """A Studio with a token: the bare page is refused; opened with ?token= it sets a cookie,
    drops the token from the address, and then the API calls and the SSE stream just work."""
    token = "browser-token-0123456789"
    srv = make_server(token=token)
    refused = page.goto(srv.url + "/")
    assert refused.status == 401 and "token" in page.content()
    page.goto(f"{srv.url}/?token={token}")
    assert page.url == srv.url + "/"  # redirected: the token is not left in the address bar or history
    expect(page.locator("#f-surrogate option")).to_have_count(6)
    page.fill("input[name=epochs]", "2")
    page.fill("input[name=hidden]", "16")
    page.fill("input[name=timesteps]", "5")
    page.click("#btn-train")
    expect(page.locator("#job-status")).to_have_text("completed", timeout=60_000)
    assert page.evaluate("window.studio.epochs.length") == 2  # every epoch came over the EventSource
    assert page.errors == []  # type: ignore[attr-defined]
