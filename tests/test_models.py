import pytest
import torch

from tickets import models


@pytest.mark.parametrize("name", models.available_models())
@pytest.mark.parametrize("masked", [True, False])
def test_every_model_forward_backward(name, masked):
    width = 0.125 if name.startswith("wrn34") else 0.25
    model = models.build(name, width=width, masked=masked, num_classes=10, remaining=0.5)
    model.train()
    out = model(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 10)
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    counts = models.param_counts(model)
    assert counts["total"] == sum(m.weight.numel() for m in models.prunable(model))
    if masked:
        assert abs(counts["kept"] / counts["total"] - 0.5) < 0.01
    else:
        assert counts["kept"] == counts["total"]


def test_parameter_counts_match_the_architectures():
    # conv4 at width 1: convs 3-64-64-128-128 (3x3), then fc 8192-256-256-10
    conv4 = 3 * 64 * 9 + 64 * 64 * 9 + 64 * 128 * 9 + 128 * 128 * 9 + 8192 * 256 + 256 * 256 + 2560
    assert models.param_counts(models.build("conv4"))["total"] == conv4
    # ResNet-18 (CIFAR): the well-known 11.17M parameters less BatchNorm's 9,600 affine values
    # and the classifier bias (the 1x1-conv classifier has none).
    assert models.param_counts(models.build("resnet18"))["total"] == 11_173_962 - 9_600 - 10
    # WRN-34-10: 46.16M parameters in total, of which all but BN and the bias are weights
    wrn = models.param_counts(models.build("wrn34_10", masked=False))["total"]
    assert 46.0e6 < wrn < 46.2e6


def test_width_and_classes():
    m = models.build("conv4", width=0.5, num_classes=100)
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 100)
    assert models.param_counts(m)["total"] < models.param_counts(models.build("conv4"))["total"]


def test_same_seed_same_network_other_seed_other_network():
    a, b = models.build("conv2", init_seed=3), models.build("conv2", init_seed=3)
    c = models.build("conv2", init_seed=4)
    wa, wb, wc = (next(m.body.parameters()) for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_signed_constant_init_values():
    m = models.build("conv2", init="signed_constant")
    w = m.body.features[0].weight
    fan_in = w[0].numel()
    assert torch.allclose(w.abs(), torch.full_like(w, (2.0 / fan_in) ** 0.5))


def test_input_normalisation_inside_the_model():
    m = models.build("conv2")
    assert isinstance(m.normalize, models.Normalize)
