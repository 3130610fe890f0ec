"""Model registry: ``build(name, ...)`` for every network the studies use.

Every model takes pixels in [0, 1] and normalises them inside (``Normalize``), so attacks and
outside libraries (AutoAttack) see the same input space. Masked models use non-affine
BatchNorm with running statistics, as the RST paper does; dense models use affine BatchNorm.
Convolutions have no bias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from tickets.config import ConfigError, ModelConfig
from tickets.layers import (
    MaskedConv2d,
    MaskedLinear,
    MaskedMixin,
    init_scores_,
    init_weight_,
    set_remaining,
)

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


class Normalize(nn.Module):
    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@dataclass
class Builder:
    """Makes layers of one kind: masked (with a sparsity pattern) or plain dense."""

    masked: bool
    pattern: str = "element"
    bn_affine: bool = False

    def conv(self, cin: int, cout: int, k: int = 3, stride: int = 1, padding: int | None = None
             ) -> nn.Module:
        padding = k // 2 if padding is None else padding
        if self.masked:
            return MaskedConv2d(cin, cout, k, stride=stride, padding=padding, bias=False,
                                pattern=self.pattern)
        return nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)

    def linear(self, cin: int, cout: int) -> nn.Module:
        if self.masked:
            return MaskedLinear(cin, cout, pattern=self.pattern)
        return nn.Linear(cin, cout, bias=False)

    def bn(self, c: int) -> nn.Module:
        return nn.BatchNorm2d(c, affine=self.bn_affine)

    def bn1d(self, c: int) -> nn.Module:
        return nn.BatchNorm1d(c, affine=self.bn_affine)


def _w(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


# ---- conv-n (the edge-popup paper's small VGG-like nets, with BatchNorm added) ------------
class ConvNet(nn.Module):
    def __init__(self, b: Builder, plan: list, width: float, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, size = 3, 32
        for item in plan:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                size //= 2
            else:
                c = _w(item, width)
                layers += [b.conv(cin, c), b.bn(c), nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        h = _w(256, width)
        # BatchNorm after the hidden linear layers too: without it a sparse mask shrinks the
        # activations by about sqrt(remaining) per layer and the logits all but vanish.
        self.classifier = nn.Sequential(
            nn.Flatten(), b.linear(cin * size * size, h), b.bn1d(h), nn.ReLU(inplace=True),
            b.linear(h, h), b.bn1d(h), nn.ReLU(inplace=True), b.linear(h, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# ---- ResNet-18 (post-activation, CIFAR stem, 1x1-conv classifier) --------------------------
class BasicBlock(nn.Module):
    def __init__(self, b: Builder, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = b.conv(cin, cout, 3, stride), b.bn(cout)
        self.conv2, self.bn2 = b.conv(cout, cout, 3, 1), b.bn(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(b.conv(cin, cout, 1, stride, 0), b.bn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, b: Builder, width: float, num_classes: int) -> None:
        super().__init__()
        widths = [_w(c, width) for c in (64, 128, 256, 512)]
        self.conv1, self.bn1 = b.conv(3, widths[0], 3, 1), b.bn(widths[0])
        blocks: list[nn.Module] = []
        cin = widths[0]
        for i, c in enumerate(widths):
            for j in range(2):
                blocks.append(BasicBlock(b, cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = b.conv(cin, num_classes, 1, 1, 0)  # 1x1-conv classifier, as in the RST code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.pool(self.layers(out))
        return self.fc(out).flatten(1)


# ---- Pre-activation ResNet-18 ----------------------------------------------------------------
class PreActBlock(nn.Module):
    def __init__(self, b: Builder, cin: int, cout: int, stride: int, drop: float = 0.0) -> None:
        super().__init__()
        self.bn1, self.conv1 = b.bn(cin), b.conv(cin, cout, 3, stride)
        self.bn2, self.conv2 = b.bn(cout), b.conv(cout, cout, 3, 1)
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.shortcut = b.conv(cin, cout, 1, stride, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(x))
        short = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + short


class PreActResNet18(nn.Module):
    def __init__(self, b: Builder, width: float, num_classes: int) -> None:
        super().__init__()
        widths = [_w(c, width) for c in (64, 128, 256, 512)]
        self.conv1 = b.conv(3, widths[0], 3, 1)
        blocks: list[nn.Module] = []
        cin = widths[0]
        for i, c in enumerate(widths):
            for j in range(2):
                blocks.append(PreActBlock(b, cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
        self.layers = nn.Sequential(*blocks)
        self.bn = b.bn(cin)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = b.linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn(self.layers(self.conv1(x))))
        return self.fc(self.pool(out).flatten(1))


# ---- WideResNet(depth, widen) -------------------------------------------------------------------
class WideResNet(nn.Module):
    """WRN-depth-widen with pre-activation blocks; the RST paper's 'WideResNet32' is WRN-34-10."""

    def __init__(self, b: Builder, width: float, num_classes: int, depth: int = 34,
                 widen: int = 10) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ConfigError(f"invalid depth={depth!r}: a WideResNet needs depth = 6n + 4")
        n = (depth - 4) // 6
        widths = [_w(16, width)] + [_w(c * widen, width) for c in (16, 32, 64)]
        self.conv1 = b.conv(3, widths[0], 3, 1)
        blocks: list[nn.Module] = []
        cin = widths[0]
        for i, c in enumerate(widths[1:]):
            for j in range(n):
                blocks.append(PreActBlock(b, cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
        self.layers = nn.Sequential(*blocks)
        self.bn = b.bn(cin)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = b.linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn(self.layers(self.conv1(x))))
        return self.fc(self.pool(out).flatten(1))


# ---- registry ---------------------------------------------------------------------------------
_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "conv2": lambda b, w, k: ConvNet(b, [64, 64, "M"], w, k),
    "conv4": lambda b, w, k: ConvNet(b, [64, 64, "M", 128, 128, "M"], w, k),
    "conv6": lambda b, w, k: ConvNet(b, [64, 64, "M", 128, 128, "M", 256, 256, "M"], w, k),
    "resnet18": lambda b, w, k: ResNet18(b, w, k),
    "preact_resnet18": lambda b, w, k: PreActResNet18(b, w, k),
    "wrn34_10": lambda b, w, k: WideResNet(b, w, k, 34, 10),
    "wrn28_4": lambda b, w, k: WideResNet(b, w, k, 28, 4),
    "wrn16_4": lambda b, w, k: WideResNet(b, w, k, 16, 4),
}


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def check_name(name: str, param: str = "model.name") -> str:
    """The name if it is registered; otherwise a ConfigError that lists the registered ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"invalid {param}={name!r}: allowed values are "
                          + ", ".join(repr(n) for n in available_models()))
    return name


class Net(nn.Module):
    """A registered body behind the input normalisation, with its configuration attached."""

    def __init__(self, body: nn.Module, cfg: ModelConfig) -> None:
        super().__init__()
        mean, std = (CIFAR100_MEAN, CIFAR100_STD) if cfg.num_classes == 100 else (CIFAR_MEAN,
                                                                                 CIFAR_STD)
        self.normalize = Normalize(mean, std)
        self.body = body
        self.cfg = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.normalize(x))


def build(name: str = "conv4", width: float = 1.0, num_classes: int = 10, masked: bool = True,
          init: str = "signed_constant", pattern: str = "element", init_seed: int = 0,
          remaining: float = 1.0, bn_affine: bool | None = None) -> Net:
    """Build a registered model with its weights drawn from ``init_seed``.

    The weights are drawn on the CPU from a seeded generator, so the same seed gives the same
    random network on every device. Scores (masked models) come from a second seeded stream.
    """
    cfg = ModelConfig(name=name, width=width, num_classes=num_classes, init=init,
                      pattern=pattern, init_seed=init_seed, masked=masked).validate()
    return build_from_config(cfg, remaining=remaining, bn_affine=bn_affine)


def build_from_config(cfg: ModelConfig, remaining: float = 1.0,
                      bn_affine: bool | None = None) -> Net:
    cfg.validate()
    check_name(cfg.name)
    affine = (not cfg.masked) if bn_affine is None else bn_affine
    b = Builder(masked=cfg.masked, pattern=cfg.pattern, bn_affine=affine)
    model = Net(_REGISTRY[cfg.name](b, cfg.width, cfg.num_classes), cfg)
    wgen = torch.Generator().manual_seed(cfg.init_seed)
    sgen = torch.Generator().manual_seed(cfg.init_seed + 1_000_003)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init_weight_(module.weight, cfg.init, wgen)
        if isinstance(module, MaskedMixin):
            init_scores_(module.scores, sgen)
    if cfg.masked:
        set_remaining(model, remaining)
    return model


def prunable(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def param_counts(model: nn.Module) -> dict[str, int]:
    """Weights of conv and linear layers: total and kept under the masks in force."""
    total = sum(m.weight.numel() for m in prunable(model))
    kept = sum(m.kept() if isinstance(m, MaskedMixin) else m.weight.numel()
               for m in prunable(model))
    return {"total": total, "kept": kept}
