"""schemathesis (coverage, fuzzing and stateful phases, all checks) against the live server's OpenAPI schema.

The SSE routes are excluded: they are infinite while a job runs (their finite
``follow=false`` mode is covered in test_api).  Jobs that the fuzzer starts are
real; a small job limit keeps them from swamping the machine, and the server
stops them on shutdown.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest


@pytest.mark.parametrize("examples", [8, pytest.param(100, marks=pytest.mark.slow)])
def test_schemathesis_finds_no_failures(make_server, tmp_path, examples):
    srv = make_server(max_concurrent_jobs=1, max_active_jobs=2)
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{srv.url}/openapi.json",
           "--checks", "all", "--exclude-path-regex", "stream", "--max-examples", str(examples),
           "--seed", "1", "--workers", "1", "--request-timeout", "20", "--report", "junit",
           "--report-dir", str(tmp_path / "schemathesis")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=540, cwd=tmp_path)
    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr)  # full log kept for diagnosis
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        for job in c.get("/api/training/jobs").json():
            c.post("/api/training/stop", json={"job_id": job["job_id"]})
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout, run.stdout[-4000:]
    assert "generated" in run.stdout
