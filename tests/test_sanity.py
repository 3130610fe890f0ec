import pytest
import torch
from torch import nn

from tickets import sanity


class StepMasked(nn.Module):
    """A gradient-masked model: the logits are scaled so far that the softmax saturates, a
    step function in float32. The cross-entropy gradient is exactly zero for every confidently
    classified input, so gradient attacks stall, while the decisions are unchanged."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) * 1e4


@pytest.mark.slow
def test_checks_pass_on_an_honest_model(trained_model, synth):
    checks = sanity.run_checks(trained_model, synth.test, eps=32 / 255, n=128, square_queries=200)
    failed = [c.name for c in checks if not c.passed]
    assert not failed, failed


@pytest.mark.slow
def test_checks_fail_on_a_gradient_masked_model(trained_model, synth):
    masked = StepMasked(trained_model).eval()
    checks = {c.name: c for c in sanity.run_checks(masked, synth.test, eps=32 / 255, n=128,
                                                  square_queries=200)}
    # the gradient is zero: PGD cannot move, so even a huge eps leaves accuracy high
    assert not checks["about 0 at a large eps"].passed
    assert checks["about 0 at a large eps"].numbers["accuracy"] > 0.5
    t = sanity.table({"masked": list(checks.values())})
    assert (t["result"] == "FAIL").sum() >= 1


def test_stepmasked_really_has_no_input_gradient(trained_model, synth):
    m = StepMasked(trained_model).eval()
    x = synth.test.images(slice(0, 64)).requires_grad_(True)
    y = synth.test.y[:64]
    torch.nn.functional.cross_entropy(m(x), y, reduction="sum").backward()
    zero = (x.grad.flatten(1).abs().max(1).values == 0).float().mean()
    assert zero > 0.8
