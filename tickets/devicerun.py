"""The gpu report on a lent GPU machine, in calls of under ten minutes.

A lent machine runs one command at a time for at most 10 minutes, starts bare, and takes back
only what the command leaves in its output folder (a few files of at most 16 MiB) and what the
next call carries in (64 MiB in all). So the report is executed in pieces:

on the GPU machine, each call (device/run.sh wraps this with the wheel installation)::

    python -m tickets.devicerun run --profile gpu --state .device-state --out "$OUT" --budget-s 540

  restores the notebooks already executed from the carried state folder, executes the next
  ones in PLAN order until the budget is spent, and packs the executed notebooks, their verdict
  records and the progress log into OUT/state.tar.gz (the store of trained networks stays on
  the machine: a ResNet-18 checkpoint alone is over 40 MB). A notebook the budget cuts off is
  recorded as interrupted and runs again from its start in the next call;

here, after each call::

    python -m tickets.devicerun collect --profile gpu --files DIR

  unpacks DIR/state.tar.gz into .device-state/ (carried by the next call) and into
  reports/gpu/, converts the executed notebooks to HTML and writes the index, with nbconvert,
  which the GPU machine lacks.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tickets.store import atomic_write_json, read_json

ROOT = Path(__file__).resolve().parent.parent
# Notebooks that reuse study 01's tickets follow it, so they find them in the machine's store
# while it is warm; the others train their own networks.
PLAN = ("01", "07", "08", "05", "02", "03", "04", "06", "09", "10")
PROGRESS = "device-progress.json"
STATE = "state.tar.gz"
MAX_FILE = 16 * 2**20  # the largest file a call brings back
MIN_START_S = 45  # a notebook is not started with less time than this left


def _report_dir(profile: str, tiny: bool) -> Path:
    return ROOT / "reports" / (profile + ("-tiny" if tiny else ""))


def _restore(state: Path, out_dir: Path) -> dict:
    """Copy the carried state into the report folder; the progress log it holds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if state.is_dir():
        for f in state.rglob("*"):
            if f.is_file():
                dest = out_dir / f.relative_to(state)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dest)
    p = out_dir / PROGRESS
    return read_json(p) if p.exists() else {}


def _pack(out_dir: Path, dest: Path) -> int:
    """The executed notebooks, verdict records, timings and progress log as one tar.gz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(out_dir.rglob("*")):
            rel = f.relative_to(out_dir)
            if f.is_file() and (f.suffix in (".ipynb", ".json") and rel.parts[0] != "screenshots"):
                tar.add(f, arcname=str(rel))
    data = buf.getvalue()
    if len(data) > MAX_FILE:
        raise SystemExit(f"{dest.name} would be {len(data) / 2**20:.1f} MiB, over the "
                         f"{MAX_FILE // 2**20} MiB a call brings back")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return len(data)


def pending(progress: dict, selected: list[str] | None = None) -> list[str]:
    """Notebook prefixes still to execute, in PLAN order."""
    order = [p for p in PLAN if selected is None or p in selected]
    return [p for p in order if progress.get(p, {}).get("status") != "done"]


def run(profile: str, state: Path, out: Path, budget_s: float, tiny: bool = False,
        selected: list[str] | None = None, report_dir: Path | None = None) -> dict:
    """Execute pending notebooks until budget_s is spent; pack the state into out."""
    deadline = time.monotonic() + budget_s
    out_dir = report_dir or _report_dir(profile, tiny)
    progress = _restore(state, out_dir)
    from tickets.report import withdrawn
    for stem in withdrawn(out_dir):  # voided by a later fix: execute again
        progress.pop(stem[:2], None)
    log = out / "log.txt"
    out.mkdir(parents=True, exist_ok=True)
    for prefix in pending(progress, selected):
        left = deadline - time.monotonic()
        if left < MIN_START_S:
            break
        cmd = [sys.executable, "-m", "tickets.report", "--profile", profile, "--notebooks",
               prefix, "--out", str(out_dir), "--execute-only"] + (["--tiny"] if tiny else [])
        t0 = time.monotonic()
        with log.open("a") as fh:
            fh.write(f"== {prefix}: {' '.join(cmd[1:])} (budget left {left:.0f} s)\n")
            fh.flush()
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=left)
                status = "done" if rc == 0 else "failed"
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                status = "interrupted"
        secs = time.monotonic() - t0
        entry = progress.get(prefix, {})
        entry["attempts"] = entry.get("attempts", 0) + 1
        progress[prefix] = {**entry, "status": status, "seconds": round(secs, 1)}
        atomic_write_json(out_dir / PROGRESS, progress)
        print(f"[device] {prefix}: {status} in {secs:.0f} s", flush=True)
        if status == "interrupted":
            break
    size = _pack(out_dir, out / STATE)
    print(f"[device] packed {size / 2**20:.2f} MiB into {out / STATE}; still to run: "
          f"{pending(progress, selected) or 'nothing'}", flush=True)
    return progress


def collect(profile: str, files: Path, state: Path, tiny: bool = False,
            report_dir: Path | None = None) -> Path:
    """Unpack a call's state.tar.gz into the state folder and the report folder, then write
    the HTML pages and the index."""
    from tickets import report

    archive = files / STATE
    if not archive.exists():
        raise SystemExit(f"no {STATE} in {files}: did the call finish? See its log.txt")
    out_dir = report_dir or _report_dir(profile, tiny)
    for dest in (state, out_dir):
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    report.main(["--profile", profile, "--out", str(out_dir), "--index-only"])
    return out_dir


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="on the GPU machine: execute the next notebooks")
    r.add_argument("--out", required=True, type=Path, help="the call's output folder ($OUT)")
    r.add_argument("--budget-s", type=float, default=540,
                   help="stop starting notebooks after this many seconds (the call's limit "
                        "is 600, and packing and the wheels' installation take some)")
    r.add_argument("--notebooks", nargs="*", help="prefixes such as 01 07 (default: all)")
    c = sub.add_parser("collect", help="here: unpack a call's files and build the report")
    c.add_argument("--files", required=True, type=Path, help="where the call's files landed")
    for p in (r, c):
        p.add_argument("--profile", default="gpu")
        p.add_argument("--state", default=ROOT / ".device-state", type=Path)
        p.add_argument("--tiny", action="store_true", help="the profile's dry-run sizes")
        p.add_argument("--report-dir", type=Path, default=None,
                       help="default reports/<profile> (reports/<profile>-tiny with --tiny)")
    a = ap.parse_args(argv)
    if a.cmd == "run":
        progress = run(a.profile, a.state, a.out, a.budget_s, a.tiny, a.notebooks,
                       a.report_dir)
        print(json.dumps(progress, indent=1))
    else:
        out_dir = collect(a.profile, a.files, a.state, a.tiny, a.report_dir)
        print(f"report: {out_dir / 'index.html'}")


if __name__ == "__main__":
    main()
