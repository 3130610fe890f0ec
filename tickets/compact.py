"""Compaction of channel-wise tickets: a conv-n RST whose masks drop whole output channels is
a smaller dense network. This builds that network, so the speedup can be measured.

Exactness: a dropped channel outputs 0; BatchNorm statistics re-estimated over a run where the
channel is always 0 have mean 0 and variance 0, so the normalised channel is 0 too and the
channel can go. :func:`compact` checks this and refuses otherwise.
"""

from __future__ import annotations

import torch
from torch import nn

from tickets.layers import MaskedConv2d, MaskedLinear
from tickets.models import ConvNet, Net


def _kept_channels(conv: MaskedConv2d) -> torch.Tensor:
    m = conv.current_mask().flatten(1).amax(1) > 0
    return m.nonzero().squeeze(1)


@torch.no_grad()
def compact(model: Net) -> nn.Module:
    """A dense nn.Sequential equal to a channel-wise masked conv-n model, without its pruned
    channels. Linear layers stay dense matrices with their (element-wise) masks applied."""
    body = model.body
    if not isinstance(body, ConvNet):
        raise ValueError("compaction is implemented for conv2/conv4/conv6 (residual nets would "
                         "need their skip connections aligned)")
    layers: list[nn.Module] = [model.normalize]
    prev: torch.Tensor | None = None  # kept input channels
    mods = list(body.features)
    for i, mod in enumerate(mods):
        if isinstance(mod, MaskedConv2d):
            keep = _kept_channels(mod)
            w = (mod.weight * mod.current_mask())[keep]
            if prev is not None:
                w = w[:, prev]
            conv = nn.Conv2d(w.shape[1], w.shape[0], mod.kernel_size, mod.stride, mod.padding,
                             bias=False)
            conv.weight.copy_(w)
            layers.append(conv)
            bn = mods[i + 1]
            assert isinstance(bn, nn.BatchNorm2d)
            dead = torch.ones(bn.num_features, dtype=torch.bool)
            dead[keep] = False
            if dead.any() and (bn.running_mean[dead].abs().max() > 0 or
                               bn.running_var[dead].abs().max() > 0):
                raise ValueError("a pruned channel has non-zero BatchNorm statistics: "
                                 "re-estimate them (train.recalibrate_bn) before compacting")
            new_bn = nn.BatchNorm2d(len(keep), affine=False)
            new_bn.running_mean.copy_(bn.running_mean[keep])
            new_bn.running_var.copy_(bn.running_var[keep])
            layers.append(new_bn)
            prev = keep
        elif isinstance(mod, (nn.ReLU, nn.MaxPool2d)):
            layers.append(mod)
    layers.append(nn.Flatten())
    first = True
    for mod in body.classifier:
        if isinstance(mod, MaskedLinear):
            w = mod.weight * mod.current_mask()
            if first and prev is not None:
                n_in = w.shape[1]
                channels = mods[[j for j, m in enumerate(mods)
                                 if isinstance(m, MaskedConv2d)][-1]].out_channels
                hw = n_in // channels
                cols = (prev[:, None] * hw + torch.arange(hw)[None, :]).flatten()
                w = w[:, cols]
                first = False
            lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
            lin.weight.copy_(w)
            layers.append(lin)
        elif isinstance(mod, nn.BatchNorm1d):
            layers.append(mod)
        elif isinstance(mod, nn.ReLU):
            layers.append(mod)
    return nn.Sequential(*layers).eval()
