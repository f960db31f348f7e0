"""Load: 50 SSE clients on 4 concurrent jobs over loopback; every client gets every event, in order."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from .conftest import read_events, start_job

N_CLIENTS = 50
N_JOBS = 4
JOB = {"dataset": "synthetic", "epochs": 3, "hidden": [32], "timesteps": 10, "batch_size": 16}


async def _client(url: str, job_id: str, http: httpx.AsyncClient) -> tuple[list[dict], float]:
    """All events of one stream, and how long after the first event the last one arrived."""
    events, first = [], None
    async with http.stream("GET", f"{url}/api/training/stream/{job_id}") as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                first = first or time.monotonic()
    return events, time.monotonic() - first


async def _all_clients(url: str, jobs: list[str]) -> list[tuple[str, list[dict], float]]:
    limits = httpx.Limits(max_connections=N_CLIENTS + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0)) as http:
        targets = [jobs[i % len(jobs)] for i in range(N_CLIENTS)]
        results = await asyncio.wait_for(
            asyncio.gather(*(_client(url, job, http) for job in targets)), timeout=150)
    return [(job, events, span) for job, (events, span) in zip(targets, results)]


def test_50_clients_4_jobs_every_event_in_order(make_server):
    srv = make_server(max_concurrent_jobs=N_JOBS, max_active_jobs=N_JOBS, heartbeat_s=0.5)
    with srv.client() as c:
        jobs = [start_job(c, **{**JOB, "seed": i}) for i in range(N_JOBS)]
        t_connect = time.monotonic()
        results = asyncio.run(_all_clients(srv.url, jobs))
        full = {job: read_events(c, job, params={"follow": "false"}) for job in jobs}
        statuses = {job: c.get(f"/api/training/status/{job}").json()["status"] for job in jobs}
    assert set(statuses.values()) == {"completed"}, statuses
    for job, events, span in results:
        reference = full[job]
        assert [e["id"] for e in reference] == list(range(1, len(reference) + 1))
        assert events == reference, f"a client of {job} got {len(events)} of {len(reference)} events"
        assert events[-1]["event"] == "completed"
        assert span > 0.3, "events arrived in one burst: the client only saw a replay, not a live job"
    total = sum(len(e) for _, e, _ in results)
    print(f"\n{N_CLIENTS} clients x {N_JOBS} jobs: {total} events delivered in "
          f"{time.monotonic() - t_connect:.1f}s")
