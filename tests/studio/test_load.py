"""Load: 50 SSE clients on 4 concurrent jobs over loopback; every client gets every event, in order.

To make sure the clients watch the jobs live (not a replay after the fact), the
4 jobs are queued behind 4 blocker jobs; all 50 clients connect and receive a
heartbeat while their job waits, then the blockers are stopped and the 4 jobs
train concurrently.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from .conftest import LONG, read_events, start_job

N_CLIENTS = 50
N_JOBS = 4
JOB = {"dataset": "synthetic", "epochs": 3, "hidden": [32], "timesteps": 10, "batch_size": 16}


async def _client(url: str, job_id: str, http: httpx.AsyncClient, connected: list[int],
                  all_connected: asyncio.Event) -> list[dict]:
    events: list[dict] = []
    async with http.stream("GET", f"{url}/api/training/stream/{job_id}") as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 1:
                    connected[0] += 1
                    if connected[0] == N_CLIENTS:
                        all_connected.set()
    return events


async def _scenario(url: str, blockers: list[str], jobs: list[str]) -> list[tuple[str, list[dict]]]:
    limits = httpx.Limits(max_connections=N_CLIENTS + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0)) as http:
        connected, all_connected = [0], asyncio.Event()
        targets = [jobs[i % len(jobs)] for i in range(N_CLIENTS)]
        tasks = [asyncio.create_task(_client(url, job, http, connected, all_connected)) for job in targets]
        await asyncio.wait_for(all_connected.wait(), timeout=60)
        for job in blockers:
            assert (await http.post(f"{url}/api/training/stop", json={"job_id": job})).status_code == 200
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=150)
    return list(zip(targets, results))


def test_50_clients_4_jobs_every_event_in_order(make_server):
    srv = make_server(max_concurrent_jobs=N_JOBS, max_active_jobs=2 * N_JOBS, heartbeat_s=0.5)
    with srv.client() as c:
        blockers = [start_job(c, **LONG) for _ in range(N_JOBS)]
        jobs = [start_job(c, **{**JOB, "seed": i}) for i in range(N_JOBS)]
        t0 = time.monotonic()
        results = asyncio.run(_scenario(srv.url, blockers, jobs))
        elapsed = time.monotonic() - t0
        full = {job: read_events(c, job, params={"follow": "false"}) for job in jobs}
        statuses = {job: c.get(f"/api/training/status/{job}").json()["status"] for job in jobs}
    assert set(statuses.values()) == {"completed"}, statuses
    for job, events in results:
        reference = full[job]
        assert [e["id"] for e in reference] == list(range(1, len(reference) + 1))
        stored = [e for e in events if e["event"] != "heartbeat"]  # heartbeats are per stream, not stored
        assert stored == reference, f"a client of {job} got {len(stored)} of {len(reference)} events"
        # connected while the job was still waiting, so everything after arrived live
        assert events[0]["event"] == "heartbeat" and events[0]["data"]["status"] == "idle"
        assert events[-1]["event"] == "completed"
        assert sum(e["event"] == "epoch" for e in events) == JOB["epochs"]
    total = sum(len(e) for _, e in results)
    print(f"\n{N_CLIENTS} clients x {N_JOBS} jobs: {total} events delivered in {elapsed:.1f}s")
