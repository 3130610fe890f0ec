"""Slots that add up: a store's finished work, packed compactly, and restored into another store.

A lent GPU machine starts bare and brings back only a few files of at most 16 MiB (see
tickets.devicerun). So that a later slot never trains or evaluates again what an earlier one
finished, its store's finished runs and evaluation records are packed into one bundle:

* an RST search (trainable scores) as a ticket: its configuration (architecture and init
  seed: the random weights are rebuilt from it), the mask of each masked layer packed 8 bits
  to a byte (tickets.masks.bits), and the few tensors that are not the seed's (BatchNorm
  statistics). It is restored exactly: the rebuilt network computes what the stored one did;
* a weight-trained run (dense PGD-AT, fine-tuning) with its weight matrices in bf16 (half
  the bytes; restored as float32 of the bf16 values, so an evaluation not yet made on it sees
  the rounded weights) and every other tensor as stored; its masks, if any, as bits;
* each run's result.json and config.json, and its weight files best, best_test and last (and
  the per-epoch weights of a save_epochs run), an identical tensor stored once across them;
* the records of the store's other folders: evaluations (tickets.evaluation), masks found by
  a mask maker (tickets.studies.awt).

restore() writes them back as tickets.train.RunFiles expects a finished run (config.json,
best.pt, last.pt, best_test.pt where the run tracked the test split, result.json last), so
that tickets.train.finished_run finds it and fit() returns it without training. A run being
trained (a checkpoint, no result.json) is not packed, nor one over the bundle's size limit:
either is trained again where it is asked for.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from tickets.config import RunConfig, config_hash, from_dict
from tickets.layers import masked_layers
from tickets.store import atomic_torch_save, atomic_write_bytes, atomic_write_json, read_json
from tickets.train import prepare_model

PACK_FORMAT = 1
MAX_PART = 16 * 2**20  # the largest file a lent machine's call brings back
RUNS, EVALS, MANIFEST = "runs", "evals", "manifest.json"


def _digest(t: torch.Tensor) -> str:
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
             if t.numel() else b"")
    return h.hexdigest()[:16]


def _bits(t: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.packbits(t.detach().bool().numpy().ravel()))


def _unbits(bits: torch.Tensor, shape: list[int]) -> torch.Tensor:
    n = int(np.prod(shape))
    return torch.from_numpy(np.unpackbits(bits.numpy())[:n].astype(bool)).view(*shape)


def run_config(run_dir: Path) -> RunConfig:
    """The configuration of a stored training run, checked against its folder's hash."""
    cfg = from_dict(RunConfig, read_json(run_dir / "config.json"))
    if run_dir.name != f"train-{config_hash(cfg)}":
        raise ValueError(f"{run_dir.name}: its config.json hashes to {config_hash(cfg)}, not "
                         f"to its folder's name (written by another version of the code?)")
    return cfg


def weight_files(cfg: RunConfig) -> tuple[str, ...]:
    """The weight files a finished run must have (tickets.train.RunFiles.finished)."""
    return ("best", "last") + (("best_test",) if cfg.train.track_test else ())


def finished_runs(store: Path) -> list[Path]:
    """The store's training runs that finished: result.json and every weight file there."""
    out = []
    for d in sorted(store.glob("train-*")):
        if not (d / "result.json").exists() or not (d / "config.json").exists():
            continue
        cfg = run_config(d)
        if all((d / f"{n}.pt").exists() for n in weight_files(cfg)):
            out.append(d)
    return out


def _score_masks(state: dict, cfg: RunConfig) -> dict[str, torch.Tensor]:
    """The top-k mask of each masked layer's scores in a search-mode state, at score shape,
    as the layers compute it in the forward pass."""
    model = prepare_model(cfg, torch.device("cpu"))
    model.load_state_dict(state)
    return {name: layer.score_mask().detach().bool().clone()
            for name, layer in masked_layers(model)}


def pack_run(run_dir: Path) -> bytes:
    """One finished run, compactly (see the module's docstring), as torch.save bytes."""
    cfg = run_config(run_dir)
    ticket = cfg.train.trainable == "scores"
    init = prepare_model(cfg, torch.device("cpu")).state_dict()
    blobs: dict[str, torch.Tensor] = {}
    files: dict[str, list] = {}
    bf16 = False
    epochs = sorted((f.stem for f in run_dir.glob("epoch_*.pt")),
                    key=lambda n: int(n.split("_")[1]))
    for name in [*weight_files(cfg), *epochs]:
        raw = torch.load(run_dir / f"{name}.pt", map_location="cpu", weights_only=True)
        state = raw["model"] if "model" in raw else raw
        masks = _score_masks(state, cfg) if ticket else {}
        entries = []
        for key, t in state.items():
            layer = key.rsplit(".", 1)[0]
            if ticket and key.endswith(".scores"):
                kind, stored = "scores", _bits(masks[layer])
            elif key in init and init[key].shape == t.shape and torch.equal(init[key], t):
                entries.append((key, "init", None, list(t.shape), str(t.dtype)))
                continue
            elif key.endswith(".mask") and bool(((t == 0) | (t == 1)).all()):
                kind, stored = "bits", _bits(t)
            elif not ticket and t.is_floating_point() and t.dim() >= 2:
                kind, stored, bf16 = "bf16", t.to(torch.bfloat16), True
            else:
                kind, stored = "tensor", t
            ref = _digest(stored) + kind
            blobs.setdefault(ref, stored)
            entries.append((key, kind, ref, list(t.shape), str(t.dtype)))
        files[name] = entries
    payload = {"format": PACK_FORMAT, "run": run_dir.name,
               "config": read_json(run_dir / "config.json"),
               "result": read_json(run_dir / "result.json"), "files": files, "blobs": blobs,
               "precision": "bf16 weights" if bf16 else "exact"}
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    if ticket:  # the restored scores must select exactly the stored masks, in every file
        for name in files:
            got = _score_masks(_state_from(payload, name, init), cfg)
            want = _score_masks(torch.load(run_dir / f"{name}.pt", map_location="cpu",
                                           weights_only=True)["model"], cfg)
            if any(not torch.equal(got[k], want[k]) for k in want):
                raise AssertionError(f"{run_dir.name}: the packed ticket does not reproduce "
                                     f"the masks of {name}.pt")
    return data


def _state_from(payload: dict, name: str, init: dict) -> dict:
    dtypes = {str(d): d for d in (torch.float32, torch.float16, torch.bfloat16, torch.float64,
                                  torch.int64, torch.int32, torch.uint8, torch.bool)}
    state = {}
    for key, kind, ref, shape, dtype in payload["files"][name]:
        dt = dtypes[dtype]
        if kind == "init":
            state[key] = init[key].clone()
        elif kind in ("scores", "bits"):
            state[key] = _unbits(payload["blobs"][ref], shape).to(dt)
        else:
            state[key] = payload["blobs"][ref].to(dt).clone()
    return state


def restore_run(data: bytes, store: Path) -> str | None:
    """Write a packed run into store as a finished run; its folder's name, or None when the
    store already holds it finished (left as it is)."""
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if payload.get("format") != PACK_FORMAT:
        raise ValueError(f"{payload.get('run')}: pack format {payload.get('format')!r}, this "
                         f"code reads {PACK_FORMAT}")
    d = store / payload["run"]
    if (d / "result.json").exists():
        return None
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(d / "config.json", payload["config"])
    cfg = run_config(d)
    init = prepare_model(cfg, torch.device("cpu")).state_dict()
    for name in payload["files"]:
        atomic_torch_save(d / f"{name}.pt", {"model": _state_from(payload, name, init)})
    atomic_write_json(d / "result.json", payload["result"])  # last: the run is now finished
    return d.name


def _eval_files(store: Path) -> list[Path]:
    """The records of the store's folders other than training runs: evaluations
    (tickets.evaluation), found masks (tickets.studies.awt); temporary, lock and set-aside
    files left out."""
    return sorted(f for f in store.glob("*/*") if f.is_file()
                  and not f.parent.name.startswith("train-") and not f.name.startswith(".")
                  and not f.name.endswith(".corrupt"))


def _record_runs(folder: Path) -> set[str]:
    """The configuration hashes of the runs a stored evaluation describes (its key's run)."""
    f = folder / "config.json"
    run = read_json(f).get("run", "") if f.exists() else ""
    return set(run.split("|")) if isinstance(run, str) and run else set()


@dataclass
class Packed:
    """What pack_store wrote: its parts, the runs and evaluation records in them, and the
    runs left behind (over the size limit), with the bundle's size."""

    parts: list[Path] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)
    evals: int = 0
    left_behind: list[str] = field(default_factory=list)
    nbytes: int = 0


def pack_store(store: Path, dest: Path, skip: set[str] | frozenset = frozenset(),
               max_bytes: int = 48 * 2**20) -> Packed:
    """The store's finished runs (less those named in skip: already carried) and its
    evaluation records as one tar (dest), split into parts of at most MAX_PART bytes
    (dest.00, dest.01, ... when larger). Runs are added smallest first while the bundle stays
    under max_bytes; the others are left behind, named in the manifest, and the records of
    their evaluations left out with them."""
    out = Packed()
    members: list[tuple[str, bytes]] = []
    records = {f: _record_runs(f.parent) for f in _eval_files(store)}
    total = sum(f.stat().st_size for f in records)
    packed = [(pack_run(d), d.name) for d in finished_runs(store) if d.name not in skip]
    for data, name in sorted(packed, key=lambda p: (len(p[0]), p[1])):
        if total + len(data) > max_bytes:
            out.left_behind.append(name)
            continue
        members.append((f"{RUNS}/{name}.pt", data))
        out.runs[name] = len(data)
        total += len(data)
    behind = {n.removeprefix("train-") for n in out.left_behind}
    for f, runs in records.items():
        if not runs & behind:  # a run left behind is evaluated again where it is trained again
            members.append((f"{EVALS}/{f.parent.name}/{f.name}", f.read_bytes()))
            out.evals += 1
    manifest = {"format": PACK_FORMAT, "runs": out.runs, "evals": out.evals,
                "left_behind": out.left_behind}
    members.append((MANIFEST, json.dumps(manifest, indent=1).encode()))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for arcname, data in members:
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.parts = split(buf.getvalue(), dest)
    out.nbytes = len(buf.getvalue())
    return out


def split(data: bytes, dest: Path, part: int = MAX_PART) -> list[Path]:
    """data as dest, or as dest.00, dest.01, ... of at most `part` bytes each."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if len(data) <= part:
        atomic_write_bytes(dest, data)
        return [dest]
    parts = []
    for i in range(0, len(data), part):
        p = dest.with_name(f"{dest.name}.{i // part:02d}")
        atomic_write_bytes(p, data[i:i + part])
        parts.append(p)
    return parts


def joined(dest: Path) -> bytes | None:
    """The bytes split() wrote as dest (whole or in parts), or None when neither is there."""
    if dest.exists():
        return dest.read_bytes()
    parts = sorted(dest.parent.glob(f"{dest.name}.[0-9][0-9]"))
    return b"".join(p.read_bytes() for p in parts) if parts else None


def unpack_bundle(bundle: Path, into: Path) -> dict:
    """A pack_store bundle (whole or in parts) unpacked into a carried folder: runs/<run>.pt.gz
    (split into parts of at most MAX_PART bytes when larger) and evals/<folder>/<file>.
    Returns the bundle's manifest."""
    data = joined(bundle)
    if data is None:
        raise FileNotFoundError(f"no {bundle.name} (or its parts) in {bundle.parent}")
    manifest: dict = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if not m.isfile() or ".." in parts or Path(m.name).is_absolute():
                raise ValueError(f"{bundle.name}: unexpected member {m.name!r}")
            content = tar.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == MANIFEST:
                manifest = json.loads(content)
            elif parts[0] == RUNS:
                for old in into.glob(f"{RUNS}/{parts[1]}*"):
                    old.unlink()
                split(gzip.compress(content, 6, mtime=0), into / f"{m.name}.gz")
            else:
                atomic_write_bytes(into / m.name, content)
    return manifest


def carried_runs(carried: Path) -> list[str]:
    """The runs a carried folder holds (their store folders' names)."""
    names = {p.name.split(".pt")[0] for p in (carried / RUNS).glob("train-*.pt.gz*")}
    return sorted(names)


def carried_bytes(carried: Path) -> int:
    """The size of a carried folder's files."""
    return sum(f.stat().st_size for f in carried.rglob("*") if f.is_file())


def trim(carried: Path, max_bytes: int, aside: Path) -> list[str]:
    """Keep a carried folder under max_bytes: its largest runs moved to `aside` (which does
    not travel) with the evaluation records of each, until it fits; their names. The smaller
    runs (the tickets first) and the other records stay. A run set aside is trained and
    evaluated again where a later step asks for it, unless it is moved back."""
    moved: list[str] = []
    sizes = {n: sum(f.stat().st_size for f in (carried / RUNS).glob(f"{n}.pt.gz*"))
             for n in carried_runs(carried)}
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        if carried_bytes(carried) <= max_bytes:
            break
        (aside / RUNS).mkdir(parents=True, exist_ok=True)
        for f in (carried / RUNS).glob(f"{name}.pt.gz*"):
            shutil.move(f, aside / RUNS / f.name)
        # its evaluations go with it: a run trained again is evaluated again, never paired
        # with the numbers of the weights set aside
        for folder in sorted((carried / EVALS).glob("*")):
            if name.removeprefix("train-") in _record_runs(folder):
                (aside / EVALS).mkdir(parents=True, exist_ok=True)
                shutil.rmtree(aside / EVALS / folder.name, ignore_errors=True)
                shutil.move(folder, aside / EVALS / folder.name)
        moved.append(name)
    return moved


def restore(carried: Path, store: Path) -> dict[str, list[str]]:
    """A carried folder (unpack_bundle's) written into store: every run as a finished run and
    every evaluation record not there yet. Returns the runs restored and those the store
    already held."""
    out: dict[str, list[str]] = {"restored": [], "present": []}
    for name in carried_runs(carried):
        data = joined(carried / RUNS / f"{name}.pt.gz")
        assert data is not None
        got = restore_run(gzip.decompress(data), store)
        out["restored" if got else "present"].append(name)
    for f in sorted((carried / EVALS).glob("*/*")):
        dest = store / f.parent.name / f.name
        if not dest.exists():
            atomic_write_bytes(dest, f.read_bytes())
    return out


def restore_bundle(bundle: Path, store: Path, carried: Path) -> dict[str, list[str]]:
    """unpack_bundle then restore: a call's bundle straight into a store (the rehearsal)."""
    unpack_bundle(bundle, carried)
    return restore(carried, store)


__all__ = ["PACK_FORMAT", "MAX_PART", "Packed", "pack_run", "restore_run", "pack_store",
           "unpack_bundle", "restore", "restore_bundle", "finished_runs", "carried_runs",
           "split", "joined", "run_config", "weight_files", "carried_bytes", "trim"]
