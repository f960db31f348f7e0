"""Rerun the README's main job and write the figures it quotes.

    python scripts/readme_figures.py                 # print the figures block
    python scripts/readme_figures.py --write         # and rewrite README.md between the markers
    python scripts/readme_figures.py --no-cold       # skip the cold build (WebAssembly compile)

Runs the same commands as the README (as subprocesses, timed): ``python -m sw.training``,
``python -m hw.build`` and ``python -m sim.verify`` on the trained artifact.  The build runs
twice with a fresh, empty YoWASP cache (``YOWASP_CACHE_DIR``): the first run compiles the
yosys / nextpnr / icepack WebAssembly (what a new user's first build costs), the second is warm.
With ``--no-cold`` it builds once with the normal cache and labels the time cold or warm by
whether YoWASP said it was compiling.

The README block between ``<!-- figures:begin -->`` and ``<!-- figures:end -->`` is replaced
as a whole; nothing else in the file changes.  The job takes minutes (a cold build on a
2-core machine: over 10 minutes), so run it once, at the end of a change.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
COLD_MARKERS = ("Preparing to run", "WebAssembly")
"""Text YoWASP (or hw.progress's notice) prints when it compiles a tool."""


class FigureError(RuntimeError):
    """A step failed or its output lacks a figure the README needs."""


def replace_block(text: str, block: str) -> str:
    """``text`` with everything between the markers (markers kept) replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        raise FigureError(f"the README has no {BEGIN} ... {END} block")
    if end < start or text.count(BEGIN) != 1 or text.count(END) != 1:
        raise FigureError(f"the README must hold exactly one {BEGIN} followed by one {END}")
    return text[:start + len(BEGIN)] + "\n" + block.strip("\n") + "\n" + text[end:]


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def render_block(fig: dict[str, Any]) -> str:
    """The markdown the README quotes, from the figures :func:`collect` measured."""
    b, v = fig["build"], fig["verify"]
    r = b["resources"]

    def used(key: str) -> str:
        return f"{r[key]['used']}/{r[key]['available']}"

    fmax = (f"{b['fmax_mhz']} MHz (worst of {len(b['timing']['groups'])} path groups)" if "fmax_mhz" in b
            else ", ".join(f"{f['achieved_mhz']} MHz" for f in b["fmax"].values()))
    ips = b["inferences_per_second"]
    tp = b.get("throughput")
    e2e = (f"; end to end over the UART at {tp['baud']} baud: {tp['end_to_end']['mean']:.0f}/s mean"
           if tp else "")
    m = v["models"]
    rtl = m["rtl"]
    rtl_text = (f"RTL ({rtl.get('simulator', 'Icarus')}, {rtl['samples']} samples) bit-exact with golden on "
                f"{rtl['bit_exact_pct']:.1f} %" if rtl.get("accuracy") is not None
                else f"RTL not run ({rtl.get('status')})")
    builds = []
    for run in fig["build_runs"]:
        kind = ("cold: the first yowasp run compiles the WebAssembly tools" if run["cold"]
                else "warm: yowasp tools already compiled")
        builds.append(f"| `python -m hw.build` ({kind}) | {run['seconds']:.0f} s |")
    lines = [
        f"Measured by `python scripts/readme_figures.py` on {fig['date']} ({fig['machine']}):",
        "",
        "| step | time |",
        "|---|---|",
        f"| `python -m sw.training` | {fig['train']['seconds']:.0f} s |",
        *builds,
        f"| `python -m sim.verify` | {v['seconds']:.0f} s |",
        "",
        f"- training: final validation accuracy {_pct(fig['train']['val_accuracy'])}",
        f"- build ({b['board']}, {b['device']}): {used('lc')} LCs ({100 * b['lc_fraction']:.0f} %), "
        f"EBR {used('ebr')}, SPRAM {used('spram')}, DSP {used('dsp')}; Fmax {fmax} "
        f"(runs at {b['clock_mhz']} MHz{'' if b['timing_met'] else ', timing NOT met'}); "
        f"compute only {ips['mean']:.0f} inferences/s mean on {b['cycles_per_inference']['activity_from']}, "
        f"{ips['worst_case']:.0f} worst case{e2e}",
        f"- verify ({v['samples']} test samples): float {_pct(m['float']['accuracy'])}, "
        f"Q8.8 golden {_pct(m['golden']['accuracy'])}, SC (L={v['sc']['length']}) "
        f"{_pct(m['sc']['accuracy'])}, {rtl_text}; "
        f"{'every measured goal met' if v['all_goals_met'] else 'goals NOT met'}",
    ]
    return "\n".join(lines)


# -- running the job --------------------------------------------------------------------------
def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    sys.stderr.write(proc.stderr[-2000:])
    print(f"  ({seconds:.0f} s, exit {proc.returncode})", file=sys.stderr, flush=True)
    return seconds, proc


def collect(work: Path, cold: bool = True) -> dict[str, Any]:
    """Run train -> build (cold and warm, or once) -> verify in ``work``; returns the figures."""
    py = sys.executable
    ckpt, artifact = work / "model.pt", work / "model.npz"
    secs, proc = _run([py, "-m", "sw.training", "--out", str(ckpt)])
    found = re.search(r"final validation accuracy: ([\d.]+)%", proc.stdout)
    if proc.returncode != 0 or found is None or not artifact.is_file():
        raise FigureError(f"training failed (exit {proc.returncode}): {proc.stdout[-500:]}")
    fig: dict[str, Any] = {"train": {"seconds": secs, "val_accuracy": float(found[1]) / 100}}

    env = dict(os.environ)
    if cold:
        env["YOWASP_CACHE_DIR"] = tempfile.mkdtemp(prefix="yowasp_cold_")
    runs, report = [], None
    for i in range(2 if cold else 1):
        out = work / f"build{i}"
        secs, proc = _run([py, "-m", "hw.build", "--model", str(artifact), "--board", "icebreaker",
                           "--out", str(out)], env=env)
        if proc.returncode != 0:
            raise FigureError(f"hw.build failed (exit {proc.returncode}): {proc.stderr[-500:]}")
        runs.append({"seconds": secs, "cold": any(mk in proc.stderr for mk in COLD_MARKERS)})
        report = json.loads((out / "report.json").read_text())
    fig["build_runs"], fig["build"] = runs, report

    secs, proc = _run([py, "-m", "sim.verify", "--model", str(artifact), "--json"])
    if proc.returncode not in (0, 1):
        raise FigureError(f"sim.verify failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    fig["verify"] = {**json.loads(proc.stdout), "seconds": secs}
    fig["date"] = datetime.date.today().isoformat()
    fig["machine"] = (f"{os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}, "
                      f"Python {platform.python_version()}")
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/readme_figures.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="rewrite the figures block of the README")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "readme_figures",
                   help="folder for the checkpoint, artifact and builds")
    p.add_argument("--no-cold", action="store_true", help="build once with the normal YoWASP cache")
    p.add_argument("--json", type=Path, help="also save the raw figures here")
    args = p.parse_args(argv)
    if args.write:
        try:
            replace_block(args.readme.read_text(), "")      # fail now, not after the job
        except (OSError, FigureError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        fig = collect(args.work, cold=not args.no_cold)
    except FigureError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(fig, indent=2))
    block = render_block(fig)
    print(block)
    if args.write:
        args.readme.write_text(replace_block(args.readme.read_text(), block))
        print(f"rewrote the figures block of {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
