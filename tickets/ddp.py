"""One large run on several processes or GPUs (data parallel), through torchrun.

    python -m torch.distributed.run --nproc_per_node=2 -m tickets.ddprun \\
        --config run.json --data-config data.json [--store runs] [--check-masks]

(the command line is tickets.ddprun; this module holds what train() uses: :class:`Processes`,
the loop's one view of the ranks, whose methods do nothing in a single process)

Each rank trains on its share of every batch (the global batch is cfg.train.batch_size, split
into equal contiguous chunks); gradients are averaged over the ranks before each optimiser
step, so all ranks hold the same scores, the same masks and the same weights, as a single
process on the concatenated batch would. BatchNorm in training mode uses the statistics of the
global batch (GlobalBatchNorm: differentiable all-reduce; it works with gloo on the CPU, where
torch's SyncBatchNorm does not). Rank 0 alone writes checkpoints and results; a killed job
resumes from rank 0's last checkpoint. The backend is NCCL on GPUs and gloo on the CPU.

run.json is a run's configuration as the store writes it (config.json); data.json the data
configuration (tickets.config.DataConfig) the run trains on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn


def rank_world() -> tuple[int, int]:
    """This process's rank and the number of ranks (0, 1 outside a distributed job)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_world()[0] == 0


def barrier() -> None:
    if rank_world()[1] > 1:
        dist.barrier()


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training-mode statistics are those of the global batch, summed over the
    ranks by a differentiable all-reduce; outside a distributed job, plain BatchNorm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 4):
            raise ValueError(f"expected a 2D or 4D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or rank_world()[1] == 1:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        self._check_input_dim(x)
        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        count = torch.tensor([xf.numel() / xf.shape[1]], device=x.device, dtype=xf.dtype)
        packed = all_reduce(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
        c = x.shape[1]
        n = packed[-1]
        mean = packed[:c] / n
        var = (packed[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                     else self.momentum)
                self.running_mean.mul_(1 - f).add_(f * mean.detach())
                self.running_var.mul_(1 - f).add_(f * var.detach() * n / (n - 1))
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_bn(model: nn.Module) -> nn.Module:
    """Every BatchNorm1d/2d of the model replaced, in place, by a GlobalBatchNorm with the same
    parameters, buffers and settings."""
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
            g = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                child.track_running_stats)
            g.load_state_dict(child.state_dict())
            g.to(next(child.buffers(), torch.empty(0)).device)
            setattr(model, name, g)
        else:
            convert_bn(child)
    return model


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Each parameter's gradient replaced by its mean over the ranks."""
    _, world = rank_world()
    if world == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)


def chunk(n: int) -> slice:
    """This rank's contiguous share of a global batch of n examples (n divisible by ranks)."""
    rank, world = rank_world()
    if n % world:
        raise ValueError(f"a global batch of {n} does not split over {world} ranks: choose a "
                         f"batch size divisible by the number of processes")
    k = n // world
    return slice(rank * k, (rank + 1) * k)


def all_sum(values: list[float]) -> list[float]:
    """Python numbers summed over the ranks."""
    if rank_world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


class Processes:
    """How the processes of a run share it: this process's rank, its share of each batch, the
    sums and gradient averages over the ranks, and who writes files. In one process (outside
    a torchrun job) every method leaves its input as it is: the loop reads the same either
    way."""

    def __init__(self) -> None:
        self.rank, self.world = rank_world()

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's files (rank 0)."""
        return self.rank == 0

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model with BatchNorm over the global batch when the ranks share batches."""
        return convert_bn(model) if self.distributed else model

    def share(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
        """This rank's contiguous share of a global batch, and a generator of its own for the
        attack's random start (every rank augments the whole batch alike before)."""
        if not self.distributed:
            return x, y, g
        share = chunk(len(y))
        own = torch.Generator(device=x.device).manual_seed(int(g.initial_seed()) * 31 + self.rank)
        return x[share], y[share], own

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        average_gradients(params)

    def all_sum(self, values: list[float]) -> list[float]:
        return all_sum(values)

    def barrier(self) -> None:
        barrier()


def mask_digest(model: nn.Module) -> str:
    """A hash of every mask the model applies now (its scores' top-k in search mode)."""
    h = hashlib.sha256()
    for name, m in model.named_modules():
        if hasattr(m, "current_mask"):
            h.update(name.encode())
            h.update(m.current_mask().to(torch.uint8).cpu().numpy().tobytes())
    return h.hexdigest()


def check_masks(model: nn.Module, step: int) -> None:
    """Raise unless every rank holds the same masks (a step callback for train())."""
    digests = [None] * rank_world()[1]
    dist.all_gather_object(digests, mask_digest(model))
    if len(set(digests)) != 1:
        raise RuntimeError(f"ranks disagree on the masks after step {step}: {digests}")
