"""The Random RST Switch (R2S): several tickets over one set of shared frozen weights, one of
them picked at random for every batch or every input at inference.

The members are the RSTs of several remaining ratios searched in one random network. They
share the weight tensors (one copy in memory); each keeps its own mask and BatchNorm running
statistics. Stored, an R2S is the network's seed plus one packed mask per member.

Attack wrappers for evaluating it:
- :class:`Expectation` makes the attack differentiate the exact mean over all members, of the
  loss (``over='loss'``) or of the softmax (``over='softmax'``); the set is small, so the
  expectation needs no sampling;
- :class:`EOT` averages the gradient over ``n`` sampled switches per attack step.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tickets.layers import masked_layers, set_mode


class R2S(nn.Module):
    def __init__(self, members: Sequence[nn.Module], switch: str = "input", seed: int = 0) -> None:
        super().__init__()
        if switch not in ("input", "batch"):
            raise ValueError(f"invalid switch={switch!r}: allowed values are 'input', 'batch'")
        if len(members) < 1:
            raise ValueError("an R2S needs at least one member")
        self.members = nn.ModuleList(share_weights(members))
        self.switch = switch
        self.generator = torch.Generator().manual_seed(seed)
        self.last_choice: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.members)

    def draw(self, n: int) -> torch.Tensor:
        k = len(self.members)
        if self.switch == "batch":
            return torch.randint(0, k, (1,), generator=self.generator).expand(n)
        return torch.randint(0, k, (n,), generator=self.generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        choice = self.draw(len(x)).to(x.device)
        self.last_choice = choice
        out: torch.Tensor | None = None
        # one forward pass per member present in the batch, not one per image
        for k in torch.unique(choice).tolist():
            idx = (choice == k).nonzero().squeeze(1)
            logits = self.members[k](x[idx])
            if out is None:
                out = logits.new_empty((len(x), logits.shape[1]))
            out[idx] = logits
        assert out is not None
        return out


def share_weights(members: Sequence[nn.Module]) -> list[nn.Module]:
    """Make every member use the first member's weight tensors (they are the same random
    network, so the values agree); masks and BatchNorm statistics stay per member."""
    base = dict(masked_layers(members[0]))
    out = []
    for i, m in enumerate(members):
        m = copy.deepcopy(m) if i else m
        for name, layer in masked_layers(m):
            if layer.mode == "search":
                layer.freeze_mask()  # the searched mask becomes the member's fixed mask
            if not torch.equal(layer.weight, base[name].weight):
                raise ValueError(f"member {i} has other weights in {name}: the members of an "
                                 "R2S must come from one random network (same init seed)")
            layer.weight = base[name].weight
        set_mode(m, "fixed")
        m.eval()
        out.append(m)
    return out


def storage_bytes(r2s: R2S) -> dict[str, int]:
    """Bytes to store the R2S (packed masks + BN statistics + seed) against a float32
    dense checkpoint of the same network."""
    n_weights = sum(layer.weight.numel() for _, layer in masked_layers(r2s.members[0]))
    bn = sum(v.numel() * 4 for m in r2s.members for k, v in m.state_dict().items()
             if "running_" in k)
    return {"r2s": len(r2s) * ((n_weights + 7) // 8) + bn + 8, "dense_float32": n_weights * 4}


class Expectation(nn.Module):
    """Deterministic stand-in for the R2S that an attack can differentiate exactly.

    over='softmax': logits are log of the mean softmax over members, so cross-entropy on them is
    -log E[p_y]. over='loss': :func:`tickets.attacks.input_grad` averages the members' losses
    (see ``member_losses``); the logits returned are those of the mean softmax, for decisions.
    """

    def __init__(self, r2s: R2S, over: str = "loss") -> None:
        super().__init__()
        if over not in ("loss", "softmax"):
            raise ValueError(f"invalid over={over!r}: allowed values are 'loss', 'softmax'")
        self.r2s, self.over = r2s, over
        self.train(r2s.training)  # a new module is in train mode; follow the wrapped one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([F.softmax(m(x), 1) for m in self.r2s.members]).mean(0)
        return probs.clamp_min(1e-12).log()

    def member_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [m(x) for m in self.r2s.members]


class EOT(nn.Module):
    """Expectation over transformation: the gradient is averaged over n random switches."""

    def __init__(self, model: nn.Module, n: int = 8) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"invalid n={n!r}: must be at least 1")
        self.model, self.n = model, n
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def member_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.model(x) for _ in range(self.n)]


@torch.no_grad()
def randomized_outcomes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 5,
                        batch_size: int = 500) -> torch.Tensor:
    """Per draw and image, whether a randomised model is right: a (draws, N) bool tensor."""
    rows = []
    for _ in range(draws):
        pred = torch.cat([model(x[i:i + batch_size]).argmax(1)
                          for i in range(0, len(x), batch_size)])
        rows.append(pred == y)
    return torch.stack(rows)


@torch.no_grad()
def randomized_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 5,
                        batch_size: int = 500) -> tuple[float, float]:
    """Mean and spread (max - min) of accuracy over several draws of a randomised model."""
    t = randomized_outcomes(model, x, y, draws, batch_size).float().mean(dim=1)
    return t.mean().item(), (t.max() - t.min()).item()


@torch.no_grad()
def inference_cost(model: R2S, x: torch.Tensor, repeats: int = 7) -> dict[str, float]:
    """Median forward time of the R2S (switching as configured) against one member alone, on
    the same batch, interleaved."""
    import statistics
    import time

    single = model.members[0]
    for _ in range(2):
        model(x)
        single(x)
    t_r2s, t_one = [], []
    for _ in range(repeats):
        for fn, acc in ((model, t_r2s), (single, t_one)):
            t0 = time.perf_counter()
            fn(x)
            acc.append(time.perf_counter() - t0)
    a, b = statistics.median(t_r2s), statistics.median(t_one)
    return {"r2s_ms": 1000 * a, "single_ms": 1000 * b, "r2s_over_single": a / b,
            "batch": len(x)}
