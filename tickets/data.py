"""CIFAR-10 / CIFAR-100 held as uint8 tensors on the run's device.

Sources, tried in this order under the data root:

1. torchvision's own files: ``cifar-10-batches-py/`` or ``cifar-100-python/``;
2. an image-folder tree, ``train/<class>/*`` and ``test/<class>/*`` (the root itself or
   ``cifar10-jpeg/`` inside it);
3. a ``.tar.gz`` of such a tree (the root itself, or ``cifar10-jpeg.tar.gz`` inside it);
4. torchvision's download, which fails on machines without network.

The root is the ``root`` argument, else the ``TICKETS_DATA`` environment variable, else
``data/``. Decoded arrays are cached as .npz, under the root when it is a writable folder,
else under ``TICKETS_CACHE`` (default ``~/.cache/tickets``).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tickets.config import ConfigError, DataConfig

ENV_VAR = "TICKETS_DATA"
CACHE_ENV_VAR = "TICKETS_CACHE"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
LAYOUTS = (
    "torchvision files (<root>/cifar-10-batches-py/ or <root>/cifar-100-python/)",
    "an image-folder tree (<root>/train/<class>/*.jpg and <root>/test/<class>/*.jpg, "
    "or the same under <root>/cifar10-jpeg/)",
    "a .tar.gz of that tree (<root> itself or <root>/cifar10-jpeg.tar.gz)",
)


class DataNotFoundError(FileNotFoundError):
    pass


class DataCorruptError(ValueError):
    """A data file exists but cannot be read; the message names it and the layouts."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root if root is not None else os.environ.get(ENV_VAR, "data")).expanduser()


def _cache_dir(root: Path) -> Path:
    if CACHE_ENV_VAR in os.environ:
        d = Path(os.environ[CACHE_ENV_VAR]).expanduser()
    elif root.is_dir() and os.access(root, os.W_OK):
        d = root / ".tickets-cache"
    else:  # the root is an archive file, or a folder we may not write to
        d = Path.home() / ".cache" / "tickets"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]


def _decode(blob: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _split_of(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """('train'|'test', class) from a path's parts ending in <split>/<class>/<file>."""
    if len(parts) >= 3 and parts[-3] in ("train", "test"):
        return parts[-3], parts[-2]
    return None


def _collect(items: list[tuple[str, str, str, bytes]]) -> dict[str, np.ndarray]:
    """items: (split, class, name, encoded image). Classes sort into label order."""
    classes = sorted({c for _, c, _, _ in items})
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        chosen = sorted((c, n, b) for s, c, n, b in items if s == split)
        if not chosen:
            raise DataNotFoundError(f"the image-folder source has no '{split}/' images")
        out[f"x_{split}"] = np.stack([_decode(b) for _, _, b in chosen]).transpose(0, 3, 1, 2)
        out[f"y_{split}"] = np.array([index[c] for c, _, _ in chosen], dtype=np.int64)
    out["classes"] = np.array(classes)
    return out


def _read_tree(tree: Path) -> dict[str, np.ndarray]:
    items = []
    for f in tree.glob("*/*/*"):
        sc = _split_of(f.relative_to(tree).parts)
        if sc and f.is_file():
            items.append((sc[0], sc[1], f.name, f.read_bytes()))
    return _collect(items)


def _read_targz(path: Path) -> dict[str, np.ndarray]:
    items = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            sc = _split_of(tuple(Path(member.name).parts))
            if sc:
                fh = tar.extractfile(member)
                assert fh is not None
                items.append((sc[0], sc[1], Path(member.name).name, fh.read()))
    return _collect(items)


def _read_torchvision(root: Path, dataset: str, download: bool) -> dict[str, np.ndarray]:
    from torchvision import datasets

    cls = datasets.CIFAR10 if dataset == "cifar10" else datasets.CIFAR100
    out = {}
    for split, train in (("train", True), ("test", False)):
        ds = cls(str(root), train=train, download=download)
        out[f"x_{split}"] = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))
        out[f"y_{split}"] = np.array(ds.targets, dtype=np.int64)
    out["classes"] = np.array(ds.classes)
    return out


def _is_tree(p: Path) -> bool:
    return (p / "train").is_dir() and (p / "test").is_dir()


def _read_cache(cache: Path) -> dict[str, np.ndarray] | None:
    """The decoded arrays cached at `cache`, or None (absent, or unreadable: then removed with a
    warning, and the data is decoded again)."""
    if not cache.exists():
        return None
    try:
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        warnings.warn(f"unreadable data cache {cache} ({type(e).__name__}); decoding the data "
                      f"again", stacklevel=3)
        cache.unlink(missing_ok=True)
        return None


def load_arrays(dataset: str = "cifar10", root: str | os.PathLike | None = None,
                download: bool = True) -> dict[str, np.ndarray]:
    """uint8 arrays x_train (N,3,32,32), y_train, x_test, y_test and class names.

    With download=False a missing dataset fails at once instead of trying torchvision's
    download.
    """
    if dataset not in ("cifar10", "cifar100"):
        raise ConfigError(f"invalid dataset={dataset!r}: allowed values are 'cifar10', 'cifar100'")
    r = data_root(root)
    tv_dir = r / ("cifar-10-batches-py" if dataset == "cifar10" else "cifar-100-python")
    source: tuple[str, Path] | None = None
    if r.is_dir() and tv_dir.is_dir():
        source = ("torchvision", tv_dir)
    elif dataset == "cifar10":
        for cand in (r, r / "cifar10-jpeg"):
            if cand.is_dir() and _is_tree(cand):
                source = ("tree", cand)
                break
        if source is None:
            for cand in (r, r / "cifar10-jpeg.tar.gz"):
                if cand.is_file() and cand.name.endswith((".tar.gz", ".tgz")):
                    source = ("targz", cand)
                    break
    if source is not None:
        kind, path = source
        cache = _cache_dir(r) / f"{dataset}-{kind}-{_fingerprint(path)}.npz"
        found = _read_cache(cache)
        if found is not None:
            return found
        try:
            if kind == "torchvision":
                arrays = _read_torchvision(r, dataset, download=False)
            elif kind == "tree":
                arrays = _read_tree(path)
            else:
                arrays = _read_targz(path)
        except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError) as e:
            raise DataCorruptError(
                f"cannot read the {dataset} data at {str(path)!r} ({type(e).__name__}: "
                f"{str(e)[:100]}); the file is damaged or truncated. Replace it, or point "
                f"{ENV_VAR} at one of: " + "; ".join(LAYOUTS)) from None
        tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
        return arrays
    try:
        if not download:
            raise RuntimeError("download disabled")
        r.mkdir(parents=True, exist_ok=True)
        return _read_torchvision(r, dataset, download=True)
    except Exception as exc:  # noqa: BLE001 - any download failure ends in the same message
        raise DataNotFoundError(
            f"no {dataset} data found under {str(r)!r} and no download ({exc}). "
            f"Set the {ENV_VAR} environment variable (or pass root=) to one of: "
            + "; ".join(LAYOUTS)) from None


def synthetic_arrays(n_train: int = 512, n_test: int = 256, num_classes: int = 10,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Learnable fake CIFAR: each class is a fixed random colour pattern plus noise."""
    g = np.random.default_rng(seed)
    protos = g.uniform(0.2, 0.8, size=(num_classes, 3, 32, 32))

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        x = protos[y] + g.normal(0, 0.15, size=(n, 3, 32, 32))
        return (np.clip(x, 0, 1) * 255).astype(np.uint8), y.astype(np.int64)

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte,
            "classes": np.array([f"class{i}" for i in range(num_classes)])}


def stratified_indices(labels: np.ndarray, n: int, seed: int,
                       exclude: np.ndarray | None = None) -> np.ndarray:
    """n indices with classes as balanced as possible, in a seeded random order.

    The order is shuffled (the sources list images class by class), so that the first k of
    a split, which evaluations take, are a fair sample too. n <= 0 means all of the pool.
    """
    pool = np.arange(len(labels))
    if exclude is not None and len(exclude):
        pool = np.setdiff1d(pool, exclude)
    g = np.random.default_rng(seed)
    if n <= 0 or n >= len(pool):
        return g.permutation(pool)
    classes = np.unique(labels[pool])
    per = {c: g.permutation(pool[labels[pool] == c]) for c in classes}
    base, extra = divmod(n, len(classes))
    order = g.permutation(len(classes))
    chosen = [per[c][: base + (1 if rank < extra else 0)] for rank, c in
              zip(np.argsort(order), classes, strict=True)]
    return g.permutation(np.concatenate(chosen))


@dataclass
class Split:
    x: torch.Tensor  # uint8 (N, 3, 32, 32) on the device
    y: torch.Tensor  # int64 (N,)

    def __len__(self) -> int:
        return len(self.y)

    def images(self, idx: torch.Tensor | slice | None = None) -> torch.Tensor:
        x = self.x if idx is None else self.x[idx]
        return x.float().div_(255.0)

    def head(self, n: int) -> Split:
        return Split(self.x[:n], self.y[:n]) if n and n < len(self) else self


@dataclass
class Data:
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    source: str
    cfg: DataConfig

    def describe(self) -> str:
        return (f"{self.cfg.dataset} ({self.source}): {len(self.train)} train / {len(self.val)} val "
                f"/ {len(self.test)} test")


def check_sizes(cfg: DataConfig, n_train_split: int, n_test_split: int) -> None:
    """A ConfigError when a requested size exceeds what the splits hold (0 means all)."""
    name = cfg.dataset
    if cfg.n_val > n_train_split:
        raise ConfigError(f"invalid n_val={cfg.n_val}: the {name} training split holds "
                          f"{n_train_split:,} images")
    available = n_train_split - cfg.n_val
    if cfg.n_train > available:
        raise ConfigError(f"invalid n_train={cfg.n_train}: the {name} training split holds "
                          f"{available:,} images once the {cfg.n_val:,} validation images are "
                          f"held out; ask for at most {available}, or 0 for all of them")
    if cfg.n_test > n_test_split:
        raise ConfigError(f"invalid n_test={cfg.n_test}: the {name} test split holds "
                          f"{n_test_split:,} images; ask for at most {n_test_split}, or 0 for "
                          f"all of them")


def load(cfg: DataConfig, device: str | torch.device = "cpu",
         root: str | os.PathLike | None = None) -> Data:
    """Load, subset (stratified, seeded) and place a dataset on the device.

    The validation split is drawn from train and never overlaps the training subset.
    """
    cfg.validate()
    if cfg.dataset == "synthetic":
        arrays = synthetic_arrays(max(cfg.n_train + cfg.n_val, 512), max(cfg.n_test, 256),
                                  seed=cfg.seed)
        source = "synthetic"
    else:
        arrays = load_arrays(cfg.dataset, root)
        r = data_root(root)
        source = "JPEG q75 copy" if "tar" in r.name or (r / "cifar10-jpeg.tar.gz").exists() or \
            (r / "cifar10-jpeg").exists() else "original"
    ytr = arrays["y_train"]
    check_sizes(cfg, len(ytr), len(arrays["y_test"]))
    val_idx = stratified_indices(ytr, cfg.n_val, cfg.seed + 1) if cfg.n_val else np.array([], int)
    train_idx = stratified_indices(ytr, cfg.n_train, cfg.seed, exclude=val_idx)
    test_idx = stratified_indices(arrays["y_test"], cfg.n_test, cfg.seed + 2)
    dev = torch.device(device)

    def split(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Split:
        return Split(torch.from_numpy(np.ascontiguousarray(x[idx])).to(dev),
                     torch.from_numpy(y[idx]).to(dev))

    return Data(train=split(arrays["x_train"], ytr, train_idx),
                val=split(arrays["x_train"], ytr, val_idx),
                test=split(arrays["x_test"], arrays["y_test"], test_idx),
                classes=tuple(str(c) for c in arrays["classes"]), source=source, cfg=cfg)


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip, batched on x's device."""
    n, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dev = x.device
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
    flip = torch.rand(n, generator=generator, device=dev) < 0.5
    rows = oy[:, None] + torch.arange(h, device=dev)[None, :]
    cols = ox[:, None] + torch.arange(w, device=dev)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    b = torch.arange(n, device=dev)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
