"""Security and robustness of the HTTP surface: body limit (413), short 422s, Host check,
same-origin writes, and the access token (header, query, cookie), on a real uvicorn."""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from sw.studio import StudioSettings
from sw.studio.limits import ECHO_BYTES
from sw.studio.security import HostPolicy, host_name
from sw.studio.settings import ENV_TOKEN, is_loopback_host

from .conftest import SMALL, free_port, read_events, spawn_studio, start_job

TOKEN = "test-token-0123456789"


def _raw(url: str, head: str, chunks: list[bytes] = (), timeout: float = 10.0) -> tuple[int, str, float]:
    """Send a request by hand (so the body can lie or be endless); returns status, body, seconds to answer."""
    parts = urlsplit(url)
    t0 = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(head.replace("\n", "\r\n").encode())
        for chunk in chunks:
            if select.select([s], [], [], 0)[0]:
                break  # the answer came before the body was sent
            try:
                s.sendall(chunk)
            except OSError:
                break
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            try:
                piece = s.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            data += piece
    elapsed = time.monotonic() - t0
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1].decode(errors="replace"), elapsed


def _length(data: bytes) -> int:
    m = re.search(rb"content-length: *(\d+)", data.split(b"\r\n\r\n", 1)[0], re.I)
    return int(m.group(1)) if m else 1 << 30


def _head(url: str, extra: str) -> str:
    return f"POST /api/training/start HTTP/1.1\nHost: {urlsplit(url).netloc}\nContent-Type: application/json\n{extra}\n"


# ---- body size ---------------------------------------------------------------------------------
def test_declared_oversize_body_is_413_before_it_is_read(server):
    limit = StudioSettings(db_path="x").max_body_bytes
    # 100 MB announced, 1 kB sent: the answer comes at once, naming the limit
    status, body, elapsed = _raw(server.url, _head(server.url, "Content-Length: 100000000\n"), [b"{" + b" " * 1000])
    assert status == 413 and str(limit) in json.loads(body)["detail"]
    assert elapsed < 2.0


def test_chunked_oversize_body_is_counted_and_cut(server):
    chunk = b'[1,' * 2730 + b'1]'  # 8 kB
    framed = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(128)]  # 1 MB if all were sent
    status, body, elapsed = _raw(server.url, _head(server.url, "Transfer-Encoding: chunked\n"), framed)
    assert status == 413 and "limit" in json.loads(body)["detail"]
    with server.client() as c:
        assert c.get("/api/training/jobs").json() == []


def test_big_body_does_not_stall_other_clients(server):
    big = json.dumps({**SMALL, "hidden": [1] * 2_000_000}).encode()  # the 5 MB body of the issue
    answers: list[object] = []

    def post() -> None:
        try:
            answers.append(httpx.post(f"{server.url}/api/training/start", content=big,
                                      headers={"content-type": "application/json"}, timeout=10).status_code)
        except httpx.TimeoutException:
            answers.append("timeout")
        except httpx.TransportError:  # the server answered 413 and closed before the whole body was written
            answers.append("closed early")

    with server.client() as c:
        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        worst = 0.0
        for _ in range(10):
            t0 = time.monotonic()
            assert c.get("/api/training/jobs").status_code == 200
            worst = max(worst, time.monotonic() - t0)
        for t in threads:
            t.join(30)
        assert set(answers) <= {413, "closed early"} and len(answers) == 4 and worst < 1.0, (answers, worst)
        assert c.get("/api/training/jobs").json() == []


def test_422_echoes_only_a_little_of_the_input(server):
    with server.client() as c:
        for body in ({**SMALL, "hidden": [1] * 5000},                      # list far too long
                     {**SMALL, "x" * 20000: 1},                            # a huge unknown key
                     {**SMALL, **{f"extra{i}": "y" * 500 for i in range(60)}},  # many errors
                     {**SMALL, "surrogate": "z" * 30000}):                 # a huge wrong value
            raw = json.dumps(body)
            assert len(raw) < StudioSettings(db_path="x").max_body_bytes
            res = c.post("/api/training/start", content=raw, headers={"content-type": "application/json"})
            assert res.status_code == 422
            assert len(res.content) < 1500, len(res.content)
            detail = res.json()["detail"]
            assert 1 <= len(detail) <= 6
            for err in detail:
                assert len(json.dumps(err.get("input", ""))) <= ECHO_BYTES + 40
        res = c.post("/api/training/start", json={**SMALL, "hidden": [1] * 5000}).json()["detail"][0]
        assert res["loc"] == ["body", "hidden"] and res["type"] == "too_long" and res["ctx"]["max_length"] == 4
        assert "5000 items" in res["input"]
        # a small bad value is still echoed whole, and the list limit is checked before the items
        res = c.post("/api/training/start", json={**SMALL, "hidden": [0]}).json()["detail"][0]
        assert res["input"] == 0
        res = c.post("/api/training/start", json={**SMALL, "hidden": ["x"] * 9}).json()["detail"]
        assert [e["type"] for e in res] == ["too_long"]
        assert c.get("/api/training/jobs").json() == []


# ---- Host and Origin ---------------------------------------------------------------------------
def test_host_header_must_name_this_server(make_server):
    srv = make_server(allowed_hosts=("studio.lan",))
    port = urlsplit(srv.url).port
    with srv.client() as c:
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "10.1.2.3"):
            res = c.get("/api/training/jobs", headers={"host": host})
            assert res.status_code == 400 and "Host" in res.json()["detail"], host
            assert c.get("/", headers={"host": host}).status_code == 400
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST.", "studio.lan"):
            assert c.get("/api/training/jobs", headers={"host": host}).status_code == 200, host


def test_host_policy():
    local = HostPolicy("127.0.0.1")
    assert local.allows("localhost") and local.allows("127.0.0.2") and not local.allows("192.168.1.5")
    assert not local.allows("attacker.example")
    anywhere = HostPolicy("0.0.0.0")
    assert anywhere.allows("192.168.1.5") and anywhere.allows("::1") and not anywhere.allows("attacker.example")
    assert HostPolicy("10.0.0.7").allows("10.0.0.7") and not HostPolicy("10.0.0.7").allows("10.0.0.8")
    assert HostPolicy("127.0.0.1", ("*",)).allows("anything.example")
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM.:80") == "example.com"
    assert is_loopback_host("127.0.0.1") and is_loopback_host("localhost") and is_loopback_host("::1")
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host("192.168.1.5")


def test_cross_origin_writes_are_refused(server):
    with server.client() as c:
        res = c.post("/api/training/start", json=SMALL, headers={"origin": "http://evil.example"})
        assert res.status_code == 403
        res = c.post("/api/training/stop", json={"job_id": "job_1"}, headers={"origin": "null"})
        assert res.status_code == 403
        assert c.get("/api/training/jobs").json() == []
        same = c.post("/api/training/stop", json={"job_id": "job_1"}, headers={"origin": server.url})
        assert same.status_code == 404  # passed the guard; the job just does not exist


# ---- token -------------------------------------------------------------------------------------
def test_token_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_TOKEN, TOKEN)
    assert StudioSettings(db_path="x").token == TOKEN
    assert StudioSettings(db_path="x", host="0.0.0.0").token == TOKEN


def test_non_loopback_needs_a_token():
    with pytest.raises(ValueError, match="needs a token"):
        StudioSettings(db_path="x", host="0.0.0.0", token=None)
    with pytest.raises(ValueError, match="token"):
        StudioSettings(db_path="x", token="short")
    StudioSettings(db_path="x", host="0.0.0.0", token=TOKEN)


def test_token_by_header_query_or_cookie(make_server):
    srv = make_server(token=TOKEN)
    with srv.client() as c:
        for path in ("/", "/api/training/jobs", "/openapi.json", "/static/studio.js",
                     "/api/training/stream/job_1"):
            res = c.get(path)
            assert res.status_code == 401 and "token" in res.json()["detail"], path
            assert c.get(path, params={"token": TOKEN + "x"}).status_code == 401
            assert c.get(path, headers={"authorization": "Bearer wrong-token-123"}).status_code == 401
        assert c.post("/api/training/start", json=SMALL).status_code == 401
        assert c.get("/api/training/jobs", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        job = start_job(httpx.Client(base_url=srv.url, headers={"authorization": f"Bearer {TOKEN}"}), **SMALL)
        # EventSource cannot set headers: ?token= works on the stream
        events = read_events(c, job, params={"token": TOKEN})
        assert events[-1]["event"] == "completed"
        # opening the page with ?token= sets a cookie and drops the token from the address
        first = c.get("/", params={"token": TOKEN})
        assert first.status_code == 303 and first.headers["location"] == "./"
        assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Lax" in first.headers["set-cookie"]
        assert TOKEN not in first.headers["location"]
        assert c.get("/").status_code == 200  # the cookie is in the client's jar now
        assert c.get("/api/training/jobs").json()[0]["job_id"] == job
        assert read_events(c, job)[-1]["event"] == "completed"
    with httpx.Client(base_url=srv.url, cookies={"snn_studio_token_1": TOKEN}) as other:
        assert other.get("/api/training/jobs").status_code == 401  # another port's cookie is not ours


def test_cli_on_all_interfaces_generates_and_prints_a_token(tmp_path):
    port = free_port()
    proc = spawn_studio(tmp_path / "s.sqlite", port, host="0.0.0.0")
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        line = ""
        while "token=" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "studio exited"
        token = re.search(r"token=([A-Za-z0-9_-]+)", line).group(1)
        assert len(token) >= 24
        for _ in range(100):
            try:
                res = httpx.get(f"{url}/api/training/jobs", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert res.status_code == 401
        assert httpx.get(f"{url}/api/training/jobs", params={"token": token}).status_code == 200
        assert httpx.get(f"{url}/api/training/jobs", headers={"host": "evil.example"},
                         params={"token": token}).status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)
