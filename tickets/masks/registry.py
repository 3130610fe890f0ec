"""The mask methods, registered by name, each called the same way: `make_mask(name, model,
remaining, ...)`.

Every method reads a network (at its initialisation, or trained) and a :class:`MaskRequest`
(the kept fraction and whatever else a method may use: training images, the probe settings,
the run's budget, a seed, a previous mask) and returns a :class:`Mask`: bool masks by
masked-layer name, on the CPU, and what the method reports about its cost. The network is
never changed.

Registered methods (in this order):

* ``awt``: neural tangent transfer on adversarial probes, PGD examples against the dense
  network at init (tickets.masks.ntt); OUR RECONSTRUCTION of Shi et al. 2022;
* ``ntt_clean``: the same on clean probes (Liu & Zenke 2020);
* ``random``: layer-uniform random masks;
* ``magnitude_init``: global magnitude of the weights, no layer normalisation;
* ``snip``: SNIP on one batch (Lee et al. 2019);
* ``magnitude``: global magnitude with each layer's |w| divided by its mean |w|, of the
  weights as they are (the boosting tickets' trained weights; Li et al. 2020); with a
  previous mask, pruned weights stay pruned (iterative pruning).

The first five read the network at initialisation alone (:attr:`MaskMethod.at_init`), as the
AWT study compares them. AWT, NTT and random masks keep the same fraction in every layer;
magnitude and SNIP rank globally. The per-layer top-k of the RST search is not here: it is the
masked layers' forward pass (tickets.layers).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from tickets import attacks
from tickets.config import ConfigError
from tickets.data import Data
from tickets.layers import set_mode, set_remaining
from tickets.masks.ntt import NTTSpec, neural_tangent_transfer, ntt_passes
from tickets.masks.prune import check_remaining, magnitude_masks, random_masks, snip_masks
from tickets.recipes import attack_config
from tickets.train import recalibrate_bn, show_progress

Masks = dict[str, torch.Tensor]


@dataclass(frozen=True)
class MaskSpec:
    """How the data-driven methods find masks: the NTT settings, the probe pool (train images,
    PGD examples against the dense net at init for AWT), and SNIP's batch."""

    ntt: NTTSpec = field(default_factory=NTTSpec)
    n_probes: int = 512
    probe_steps: int = 5
    snip_batch: int = 256

    def validate(self) -> MaskSpec:
        self.ntt.validate()
        for name in ("n_probes", "probe_steps", "snip_batch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"invalid masks.{name}={v!r}: must be a positive integer")
        return self


@dataclass(frozen=True)
class MaskRequest:
    """What a mask method may read besides the network. remaining: the kept fraction; data:
    the training images (SNIP's batch, the NTT probes); spec: the data-driven methods'
    settings; eps: the run's budget (AWT's adversarial probes); seed: the random draw;
    previous: a mask whose pruned weights stay pruned; progress: show a bar for long methods."""

    remaining: float
    data: Data | None = None
    spec: MaskSpec = field(default_factory=MaskSpec)
    eps: float = 8 / 255
    seed: int = 0
    previous: Masks | None = None
    progress: bool = False


@dataclass
class Mask:
    """A method's masks (bool, on the CPU, by masked-layer name) and what it reports (for
    NTT: its loss history, seconds and forward+backward passes)."""

    masks: Masks
    info: dict = field(default_factory=dict)


MaskFn = Callable[[nn.Module, MaskRequest], Mask]


@dataclass(frozen=True)
class MaskMethod:
    """A registered mask method. make(model, request) returns the Mask; at_init: the method
    reads the network at initialisation only (no trained weights); needs_data: it reads
    training images."""

    name: str
    label: str
    make: MaskFn
    at_init: bool = True
    needs_data: bool = False


_REGISTRY: dict[str, MaskMethod] = {}


def register(method: MaskMethod) -> MaskMethod:
    """Add a method under its name (once)."""
    if method.name in _REGISTRY:
        raise ValueError(f"a mask method named {method.name!r} is registered already")
    _REGISTRY[method.name] = method
    return method


def method_names(at_init: bool | None = None) -> tuple[str, ...]:
    """The registered methods' names in registration order; at_init=True: only those that
    read the network at initialisation (the AWT study's methods)."""
    return tuple(n for n, m in _REGISTRY.items() if at_init is None or m.at_init == at_init)


def check_method(name: str, parameter: str = "method", at_init: bool | None = None
                 ) -> MaskMethod:
    """The registered method of that name; a ConfigError naming the parameter and the
    registered names otherwise."""
    allowed = method_names(at_init)
    if not isinstance(name, str) or name not in allowed:
        which = {None: "", True: "at initialisation ", False: "of trained weights "}[at_init]
        raise ConfigError(f"invalid {parameter}={name!r}: the registered mask methods "
                          f"{which}are {allowed}")
    return _REGISTRY[name]


def make_mask(method: str, model: nn.Module, remaining: float, *, data: Data | None = None,
              spec: MaskSpec | None = None, eps: float = 8 / 255, seed: int = 0,
              previous: Masks | None = None, progress: bool = False) -> Mask:
    """The mask of a registered method keeping `remaining` of model's masked weights (see
    MaskRequest for the other arguments; each method reads what it needs)."""
    m = check_method(method)
    check_remaining(remaining)
    spec = (spec or MaskSpec()).validate()
    if m.needs_data and data is None:
        raise ConfigError(f"mask method {method!r} reads training images: pass data")
    request = MaskRequest(remaining=remaining, data=data, spec=spec, eps=eps, seed=seed,
                          previous=previous, progress=progress)
    out = m.make(model, request)
    out.masks = {n: t.cpu().bool() for n, t in out.masks.items()}
    return out


# ---- the methods ------------------------------------------------------------------------------
def _random(model: nn.Module, req: MaskRequest) -> Mask:
    return Mask(random_masks(model, req.remaining, seed=req.seed))


def _magnitude_init(model: nn.Module, req: MaskRequest) -> Mask:
    return Mask(magnitude_masks(model, req.remaining, normalise=False))


def _magnitude(model: nn.Module, req: MaskRequest) -> Mask:
    return Mask(magnitude_masks(model, req.remaining, normalise=True, previous=req.previous))


def _snip(model: nn.Module, req: MaskRequest) -> Mask:
    assert req.data is not None
    split = req.data.train.head(req.spec.snip_batch)
    model = copy.deepcopy(model).to(req.data.train.x.device)
    return Mask(snip_masks(model, split.images(), split.y, req.remaining))


def probe_pool(model: nn.Module, data: Data, n: int, adversarial: bool, steps: int,
               eps: float, seed: int = 0) -> torch.Tensor:
    """n training images; adversarial: PGD-`steps` examples at eps against the dense net of
    model's initial weights (a copy, its BatchNorm statistics estimated on clean images
    first)."""
    split = data.train.head(n)
    x = split.images()
    if not adversarial:
        return x
    teacher = copy.deepcopy(model)
    set_mode(teacher, "fixed")
    teacher = teacher.to(data.train.x.device)
    recalibrate_bn(teacher, data.train, 1024, 256)
    att = attack_config("pgd", eps, steps)
    g = torch.Generator(device=x.device).manual_seed(seed)
    return torch.cat([attacks.perturb(teacher, x[i:i + 256], split.y[i:i + 256], att, g)
                      for i in range(0, len(x), 256)])


def _ntt(name: str, adversarial: bool) -> MaskFn:
    """Neural tangent transfer from model's initial weights, on adversarial or clean probes."""

    def make(model: nn.Module, req: MaskRequest) -> Mask:
        assert req.data is not None
        spec = req.spec
        probes = probe_pool(model, req.data, spec.n_probes, adversarial, spec.probe_steps,
                            req.eps, seed=spec.ntt.seed)
        teacher = copy.deepcopy(model)
        set_mode(teacher, "fixed")
        student = copy.deepcopy(teacher)
        set_mode(student, "search")
        set_remaining(student, req.remaining)
        dev = req.data.train.x.device
        bar = tqdm(total=spec.ntt.steps, disable=not show_progress(req.progress), leave=False,
                   desc=f"NTT {name} r={req.remaining:g}")
        masks, hist = neural_tangent_transfer(student.to(dev), teacher.to(dev), probes,
                                              spec.ntt, progress=bar.update)
        bar.close()
        probe_cost = spec.n_probes * spec.probe_steps if adversarial else 0
        return Mask(masks, {"history": hist[:-1], "seconds": hist[-1]["seconds"],
                            "passes": ntt_passes(spec.ntt) + probe_cost})

    return make


register(MaskMethod("awt", "AWT (reconstruction)", _ntt("awt", adversarial=True), needs_data=True))
register(MaskMethod("ntt_clean", "NTT, clean probes", _ntt("ntt_clean", adversarial=False), needs_data=True))
register(MaskMethod("random", "random", _random))
register(MaskMethod("magnitude_init", "magnitude at init", _magnitude_init))
register(MaskMethod("snip", "SNIP", _snip, needs_data=True))
register(MaskMethod("magnitude", "magnitude, layer-normalised", _magnitude, at_init=False))


__all__ = ["MaskSpec", "MaskRequest", "Mask", "MaskMethod", "register", "method_names",
           "check_method", "make_mask", "probe_pool"]
