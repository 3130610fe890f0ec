import pytest
import torch

from tickets import compact, models, train
from tickets.data import Split


def _split(n=256):
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                 torch.arange(n) % 10)


@pytest.mark.parametrize("name", ["conv2", "conv4", "conv6"])
def test_compacted_channel_ticket_has_the_same_logits(name):
    model = models.build(name, width=0.25, pattern="channel", remaining=0.4, init_seed=3)
    split = _split()
    train.recalibrate_bn(model, split, 256, 64)
    model.eval()
    small = compact.compact(model)
    x = split.images(slice(0, 16))
    with torch.no_grad():
        assert torch.allclose(model(x), small(x), atol=1e-4)
    n_small = sum(p.numel() for p in small.parameters())
    assert n_small < models.param_counts(model)["total"]


def test_compaction_refuses_stale_batchnorm_statistics():
    model = models.build("conv2", width=0.25, pattern="channel", remaining=0.4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(0.3)
    with pytest.raises(ValueError, match="re-estimate"):
        compact.compact(model.eval())


def test_compaction_needs_a_conv_net():
    with pytest.raises(ValueError, match="conv2/conv4/conv6"):
        compact.compact(models.build("resnet18", width=0.125, pattern="channel", remaining=0.5))
