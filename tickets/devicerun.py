"""The gpu report on a lent GPU machine, in calls of under ten minutes, in slots that add up.

A lent machine runs one command at a time for at most 10 minutes, starts bare, and takes back
only what the command leaves in its output folder (at most 8 files of at most 16 MiB) and what
the next call carries in (64 MiB in all, the working tree included). So the report is executed
in steps (device/plan.yaml; PLAN order for a profile it does not name), each call taking the
next ones:

on the GPU machine, each call (device/run.sh wraps this with the wheel installation)::

    python -m tickets.devicerun run --profile gpu --state .device-state --out "$OUT" --budget-s 540

  restores the notebooks already executed from the carried state folder and the finished runs
  and evaluation records from reports/<profile>/store/ (tickets.slots) into the machine's
  store, executes the next steps until the budget is spent, and packs into OUT the executed
  notebooks, verdict records and progress log (state.tar.gz) and what the store finished that
  was not carried in (store.tar.gz, in parts of 16 MiB when larger: tickets as seed plus packed
  mask, weight-trained nets in bf16, evaluation records). A step the budget cuts off is
  recorded as interrupted and runs again in the next call, finding every run and evaluation
  it had finished;

here, after each call::

    python -m tickets.devicerun collect --profile gpu --files DIR

  unpacks DIR/state.tar.gz into .device-state/ (carried by the next call) and into
  reports/<profile>/, the store bundle into reports/<profile>/store/ (committed; it travels
  with the working tree), converts the executed notebooks to HTML and writes the index, with
  nbconvert, which the GPU machine lacks.
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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tickets import slots
from tickets.store import Store, atomic_write_json, read_json

ROOT = Path(__file__).resolve().parent.parent
# Notebooks that reuse study 01's tickets follow it, so they find them in the machine's store
# while it is warm; the others train their own networks.
PLAN = ("01", "07", "08", "05", "02", "03", "04", "06", "09", "10")
PLAN_FILE = ROOT / "device" / "plan.yaml"
PROGRESS = "device-progress.json"
STATE = "state.tar.gz"
STORE_BUNDLE = "store.tar.gz"  # what the machine's store finished (tickets.slots)
CARRIED = "store"  # reports/<profile>/store/: the finished runs and records carried in
MAX_FILE = 16 * 2**20  # the largest file a call brings back
MIN_START_S = 45  # a notebook is not started with less time than this left
WITHDRAWN = "withdrawn.json"  # tickets.report's marks of voided notebooks
# The store bundle's limit: 4 parts of 16 MiB (the call brings back 8 files: state.tar.gz,
# log.txt, devicerun.txt and gpu.txt besides), and what travels in stays under 64 MiB.
STORE_MAX_BYTES = 48 * 2**20
TRAVEL_MAX = 64 * 2**20  # the working tree a call carries in, carried paths included
TRAVEL_MARGIN = 2 * 2**20


@dataclass(frozen=True)
class Step:
    """One execution of a notebook in a device plan: its name in the progress log, the
    notebook's prefix, and the values it is given (tickets.report --param)."""

    step: str
    notebook: str
    params: dict = field(default_factory=dict)
    why: str = ""

    def args(self) -> list[str]:
        """The step's values as tickets.report arguments (values in JSON, which is YAML)."""
        out = []
        for k, v in self.params.items():
            out += ["--param", f"{k}={json.dumps(v)}"]
        return out


def plan(profile: str, plan_file: Path | None = None) -> list[Step]:
    """The profile's steps from device/plan.yaml; one step per notebook in PLAN order for a
    profile the file does not name."""
    f = plan_file or PLAN_FILE
    data = (yaml.safe_load(f.read_text()) or {}) if f.exists() else {}
    if profile not in data:
        return [Step(p, p) for p in PLAN]
    steps = []
    for i, entry in enumerate(data[profile]):
        unknown = set(entry) - {"step", "notebook", "params", "why"}
        if unknown or "step" not in entry or str(entry.get("notebook")) not in PLAN:
            raise ValueError(f"{f.name}: {profile} step {i + 1} ({entry!r}) must name its "
                             f"step, a notebook among {PLAN}, and optionally params and why")
        steps.append(Step(str(entry["step"]), str(entry["notebook"]),
                          dict(entry.get("params") or {}), str(entry.get("why", ""))))
    names = [s.step for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"{f.name}: {profile} names a step twice: {names}")
    return steps


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
            if f.is_file() and (f.suffix in (".ipynb", ".json")
                                and rel.parts[0] not in ("screenshots", CARRIED)):
                tar.add(f, arcname=str(rel))
    data = buf.getvalue()
    if len(data) > MAX_FILE:
        raise SystemExit(f"{dest.name} would be {len(data) / 2**20:.1f} MiB, over the "
                         f"{MAX_FILE // 2**20} MiB a call brings back")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return len(data)


def pending(progress: dict, selected: list[str] | None = None,
            steps: list[Step] | None = None) -> list[str]:
    """Steps still to execute, in plan order (steps; default one per notebook in PLAN order),
    of the notebooks selected (prefixes; None: all)."""
    steps = steps if steps is not None else [Step(p, p) for p in PLAN]
    return [s.step for s in steps if (selected is None or s.notebook in selected)
            and progress.get(s.step, {}).get("status") != "done"]


def _snapshot(out_dir: Path, prefix: str) -> dict[Path, bytes]:
    """The executed notebook of prefix and the verdict records, as they are before a step
    executes the notebook again."""
    files = list(out_dir.glob(f"{prefix}_*.ipynb")) + list((out_dir / "results").glob("*.json"))
    return {f: f.read_bytes() for f in files}


def _put_back(out_dir: Path, prefix: str, before: dict[Path, bytes]) -> None:
    """Undo a step that did not finish: its partial notebook and records give way to the
    complete ones an earlier step left."""
    for f in set(_snapshot(out_dir, prefix)) - set(before):
        f.unlink()
    for f, data in before.items():
        f.write_bytes(data)


def run(profile: str, state: Path, out: Path, budget_s: float, tiny: bool = False,
        selected: list[str] | None = None, report_dir: Path | None = None,
        store_max_bytes: int = STORE_MAX_BYTES, plan_file: Path | None = None) -> dict:
    """Execute pending steps (of plan_file, default device/plan.yaml) until budget_s is spent;
    pack the state and the store into out."""
    deadline = time.monotonic() + budget_s
    out_dir = report_dir or _report_dir(profile, tiny)
    progress = _restore(state, out_dir)
    steps = plan(profile, plan_file)
    store = Store().root
    carried = slots.restore(out_dir / CARRIED, store) if (out_dir / CARRIED).is_dir() else {}
    if carried:
        print(f"[device] restored {len(carried['restored'])} finished runs into {store} "
              f"({len(carried['present'])} were there)", flush=True)
    from tickets.report import withdrawn
    for stem in withdrawn(out_dir):  # voided by a later fix: execute again
        for s in steps:
            if s.notebook == stem[:2]:
                progress.pop(s.step, None)
    log = out / "log.txt"
    out.mkdir(parents=True, exist_ok=True)
    by_name = {s.step: s for s in steps}
    for name in pending(progress, selected, steps):
        step = by_name[name]
        left = deadline - time.monotonic()
        if left < MIN_START_S:
            break
        cmd = [sys.executable, "-m", "tickets.report", "--profile", profile, "--notebooks",
               step.notebook, "--out", str(out_dir), "--execute-only", *step.args()
               ] + (["--tiny"] if tiny else [])
        before = _snapshot(out_dir, step.notebook)
        t0 = time.monotonic()
        with log.open("a") as fh:
            fh.write(f"== {name}: {' '.join(cmd[1:])} (budget left {left:.0f} s)\n")
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
        if status != "done":
            _put_back(out_dir, step.notebook, before)
        secs = time.monotonic() - t0
        entry = progress.get(name, {})
        entry["attempts"] = entry.get("attempts", 0) + 1
        progress[name] = {**entry, "status": status, "seconds": round(secs, 1)}
        atomic_write_json(out_dir / PROGRESS, progress)
        print(f"[device] {name}: {status} in {secs:.0f} s", flush=True)
        if status == "interrupted":
            break
    size = _pack(out_dir, out / STATE)
    skip = set(slots.carried_runs(out_dir / CARRIED)) if (out_dir / CARRIED).is_dir() else set()
    packed = slots.pack_store(store, out / STORE_BUNDLE, skip=skip, max_bytes=store_max_bytes)
    print(f"[device] packed {size / 2**20:.2f} MiB into {out / STATE}; the store's "
          f"{len(packed.runs)} new finished runs and {packed.evals} evaluation records in "
          f"{packed.nbytes / 2**20:.2f} MiB ({len(packed.parts)} files)"
          + (f"; left behind (over {store_max_bytes / 2**20:.0f} MiB): {packed.left_behind}"
             if packed.left_behind else "")
          + f"; still to run: {pending(progress, selected, steps) or 'nothing'}", flush=True)
    return progress


def travel_room(carried: Path, root: Path = ROOT) -> int:
    """What the carried store folder may hold: the 64 MiB a call carries in, less the rest of
    the working tree (the files git tracks or does not ignore), the wheels (.whl) and the
    data (.data), and a margin."""
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                                capture_output=True, check=True).stdout.decode().split("\0")
        files = [root / f for f in listed if f]
    except (OSError, subprocess.CalledProcessError):
        files = [f for f in root.rglob("*") if ".git" not in f.parts]
    files += [f for d in (".whl", ".data") for f in (root / d).rglob("*")]
    inside = carried.resolve()
    used = sum(f.stat().st_size for f in files if f.is_file()
               and inside not in f.resolve().parents)
    return TRAVEL_MAX - used - TRAVEL_MARGIN


def collect(profile: str, files: Path, state: Path, tiny: bool = False,
            report_dir: Path | None = None, carry_max_bytes: int | None = None) -> Path:
    """Unpack a call's state.tar.gz into the state folder and the report folder, and its store
    bundle into the report folder's store/ (the largest runs set aside into the state folder
    when the carried store would exceed carry_max_bytes, by default travel_room()), then write
    the HTML pages and the index."""
    from tickets import report

    archive = files / STATE
    if not archive.exists():
        raise SystemExit(f"no {STATE} in {files}: did the call finish? See its log.txt")
    out_dir = report_dir or _report_dir(profile, tiny)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    for dest in (state, out_dir):
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
        if WITHDRAWN not in names:  # the call executed the notebooks again: it cleared them
            (dest / WITHDRAWN).unlink(missing_ok=True)
    if slots.joined(files / STORE_BUNDLE) is not None:
        manifest = slots.unpack_bundle(files / STORE_BUNDLE, out_dir / CARRIED)
        print(f"store: {len(manifest.get('runs', {}))} runs and {manifest.get('evals', 0)} "
              f"evaluation records into {out_dir / CARRIED}"
              + (f"; left on the machine: {manifest['left_behind']}"
                 if manifest.get("left_behind") else ""))
    if (out_dir / CARRIED).is_dir():
        room = travel_room(out_dir / CARRIED) if carry_max_bytes is None else carry_max_bytes
        moved = slots.trim(out_dir / CARRIED, room, state / "set-aside")
        print(f"carried store: {slots.carried_bytes(out_dir / CARRIED) / 2**20:.1f} MiB of "
              f"{room / 2**20:.1f} MiB room"
              + (f"; set aside (trained again where asked for) into {state / 'set-aside'}: "
                 f"{moved}" if moved else ""))
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
    r.add_argument("--store-mib", type=float, default=STORE_MAX_BYTES / 2**20,
                   help="the most the store bundle may hold (runs over it stay behind)")
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
                       a.report_dir, int(a.store_mib * 2**20))
        print(json.dumps(progress, indent=1))
    else:
        out_dir = collect(a.profile, a.files, a.state, a.tiny, a.report_dir)
        print(f"report: {out_dir / 'index.html'}")


if __name__ == "__main__":
    main()
