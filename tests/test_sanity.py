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


class _FlipGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -g


class GradFlipped(nn.Module):
    """A deceptive toy: the forward pass is honest, the input gradient points the wrong way,
    so gradient attacks make it *more* accurate."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(_FlipGrad.apply(x))


class Noisy(nn.Module):
    """A randomised toy: large random noise on the logits, fresh at every call."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.g = torch.Generator().manual_seed(0)  # a fixed sequence of fresh draws

    def forward(self, x):
        out = self.inner(x)
        noise = torch.randn(out.shape, generator=self.g)
        return out + 20 * out.std().detach() * noise


class _HonestOnPixels(torch.autograd.Function):
    """Identity forward; the gradient is honest at images on the 8-bit pixel grid (the
    data) and reversed anywhere else."""

    @staticmethod
    def forward(ctx, x):
        on_grid = ((x * 255 - (x * 255).round()).abs() < 1e-4).flatten(1).all(1)
        ctx.save_for_backward(on_grid)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        (on_grid,) = ctx.saved_tensors
        sign = torch.where(on_grid, 1.0, -1.0).view(-1, *([1] * (g.dim() - 1)))
        return g * sign


class OffDataMasked(nn.Module):
    """A toy whose input gradient lies off the data: FGSM, one step from the clean image,
    sees the true gradient; PGD, from a random start, only ever sees reversed ones. The
    single-step attack is then the stronger one, as on some gradient-masked defences."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(_HonestOnPixels.apply(x))


@pytest.fixture(scope="module")
def weak_linear(synth):
    """A linear classifier trained a little: clean accuracy well under 100 %."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = synth.train.images(), synth.train.y
    xt, yt = synth.test.images(slice(0, 128)), synth.test.y[:128]
    for step in range(300):  # stop as soon as it is half right
        i = (16 * step) % (len(y) - 16)
        loss = torch.nn.functional.cross_entropy(model(x[i:i + 16]), y[i:i + 16])
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            if (model(xt).argmax(1) == yt).float().mean() >= 0.5:
                break
    return model.eval()


def test_each_check_fails_where_it_should(weak_linear, synth):
    honest = {c.name: c for c in sanity.run_checks(weak_linear, synth.test, eps=8 / 255, n=128,
                                                  square_queries=300)}
    assert 0.2 < honest["eps = 0 gives the clean accuracy"].numbers["clean"] < 0.95
    flipped = {c.name: c for c in sanity.run_checks(GradFlipped(weak_linear), synth.test,
                                                   eps=8 / 255, n=128, square_queries=300)}
    # (on a linear model one full FGSM step is already the best L-inf step, so FGSM and PGD
    # agree even when the gradient lies everywhere: the single-step check has its own toy)
    for name in ("accuracy falls as eps grows", "about 0 at a large eps",
                 "more steps never help the defender", "black-box not stronger than white-box"):
        assert honest[name].passed, (name, honest[name].numbers)
        assert not flipped[name].passed, (name, flipped[name].numbers)
    noisy = {c.name: c for c in sanity.run_checks(Noisy(weak_linear), synth.test, eps=8 / 255,
                                                 n=128, square_queries=0, repeats=5)}
    assert not noisy["stable under repeated evaluation"].passed
    # evaluated as if deterministic (no repeats), its eps-0 accuracy is not its clean accuracy
    as_fixed = {c.name: c for c in sanity.run_checks(Noisy(weak_linear), synth.test,
                                                    eps=8 / 255, n=128, square_queries=0)}
    assert not as_fixed["eps = 0 gives the clean accuracy"].passed
    assert not noisy["stable under repeated evaluation"].passed


def test_single_step_check_fails_when_the_gradient_lies_off_the_data(weak_linear, synth):
    honest = {c.name: c for c in sanity.run_checks(weak_linear, synth.test, eps=8 / 255, n=128,
                                                  square_queries=0)}
    toy = {c.name: c for c in sanity.run_checks(OffDataMasked(weak_linear), synth.test,
                                               eps=8 / 255, n=128, square_queries=0)}
    name = "single-step weaker than iterative"
    assert honest[name].passed, honest[name].numbers
    assert not toy[name].passed, toy[name].numbers
    assert toy[name].numbers["FGSM"] < toy[name].numbers["PGD-20"]


def test_attack_below_clean_allows_noise_only():
    import pandas as pd
    import pytest

    from tickets.sanity import assert_attack_below_clean

    ok = pd.DataFrame({"clean": [0.40, 0.031], "pgd": [0.25, 0.094]})
    assert_attack_below_clean(ok.iloc[:1], 1000)  # a working attack
    assert_attack_below_clean(ok, 32)  # 2 of 32 images above clean: within noise at n=32
    with pytest.raises(AssertionError, match="rows \\[1\\]"):
        assert_attack_below_clean(ok, 1000)  # 6 points above clean on 1,000 images: broken
    with pytest.raises(ValueError):
        assert_attack_below_clean(ok, 0)


def _by_name(model, synth, **kw) -> dict:
    return {c.name: c for c in sanity.run_checks(model, synth.test, eps=8 / 255, n=128, **kw)}


def test_eps_zero_check_runs_the_attack_and_fails_when_the_projection_leaks(weak_linear, synth,
                                                                          monkeypatch):
    from tickets import attacks

    name = "eps = 0 gives the clean accuracy"
    honest = _by_name(weak_linear, synth, square_queries=0)[name]
    assert honest.passed and honest.numbers["eps0"] == honest.numbers["clean"]

    # on 100 images an accuracy such as 0.31 has no exact float: the check compares images
    at_100 = {c.name: c for c in sanity.run_checks(weak_linear, synth.test, eps=8 / 255, n=100,
                                                  square_queries=0)}[name]
    assert at_100.passed and at_100.numbers["images that differ"] == 0, at_100.numbers

    def leaky(delta, x, eps, norm):  # keeps the image range, forgets the eps-ball
        return (x + delta).clamp(0, 1) - x

    monkeypatch.setattr(attacks, "_project", leaky)
    broken = _by_name(weak_linear, synth, square_queries=0)[name]
    assert not broken.passed, broken.numbers
    assert broken.numbers["eps0"] < broken.numbers["clean"]


def test_restarts_check_fails_when_more_restarts_lose_what_one_found(weak_linear, synth,
                                                                     monkeypatch):
    from tickets import attacks

    name = "more restarts never help the defender"
    honest = _by_name(weak_linear, synth, square_queries=0)[name]
    assert honest.passed, honest.numbers
    real = attacks.pgd

    def forgetful(model, x, y, eps=8 / 255, alpha=2 / 255, steps=10, norm="linf", loss="ce",
                  random_start=True, restarts=1, *rest, **kw):
        """PGD whose restarts keep the last restart's example instead of the worst one (here
        the last restart found nothing)."""
        out = real(model, x, y, eps, alpha, steps, norm, loss, random_start, 1, *rest, **kw)
        return out if restarts == 1 else x.clone()

    monkeypatch.setattr(attacks, "pgd", forgetful)
    broken = _by_name(weak_linear, synth, square_queries=0)[name]
    assert not broken.passed, broken.numbers
    assert broken.numbers["images rescued by more restarts"] > 0
    # judged as a randomised model (a paired sign test instead of no image at all) it fails too
    assert not _by_name(weak_linear, synth, square_queries=0, repeats=1)[name].passed


def test_the_restarts_of_the_check_include_the_single_restart(weak_linear, synth):
    from tickets.recipes import attack_config

    one = sanity.restart_outcomes(weak_linear, synth.test, attack_config("pgd", 8 / 255, 20),
                                  128, seed=3)
    again = sanity.restart_outcomes(weak_linear, synth.test, attack_config("pgd", 8 / 255, 20),
                                    128, seed=3)
    many = sanity.restart_outcomes(
        weak_linear, synth.test, attack_config("pgd", 8 / 255, 20, restarts=4), 128, seed=3)
    assert torch.equal(one, again)
    assert not (many & ~one).any(), "a worst case over restarts that include one cannot rise"


def test_black_box_check_is_a_paired_test_not_a_rounding():
    # 29 against 31 % and 27 against 29 % on 100 images: two images either way is noise
    pgd = torch.ones(100, dtype=torch.bool)
    pgd[:69] = False  # PGD leaves 31 right
    square = pgd.clone()
    square[69:71] = False  # Square breaks two more: 29
    worse, counts = sanity.stronger(square, pgd)
    assert not worse and counts["broken only by a"] == 2 and counts["p"] == 0.25
    # paired: Square breaks 12 images PGD leaves right and PGD 1 that Square leaves right
    square = pgd.clone()
    square[69:81] = False
    square[0] = True
    worse, counts = sanity.stronger(square, pgd)
    assert worse and counts["p"] < 0.01, counts
    assert not sanity.stronger(pgd, square)[0], "the test is one-sided"
    assert sanity.sign_test_p(0, 0) == 1.0
    with pytest.raises(ValueError, match="same images"):
        sanity.stronger(square[:50], pgd)


class Jitter(nn.Module):
    """A randomised toy with moderate noise on the logits, fresh at every call: single
    evaluations differ by draw noise, as a random switch's do."""

    def __init__(self, inner, scale: float = 1.0):
        super().__init__()
        self.inner = inner
        self.scale = scale
        self.g = torch.Generator().manual_seed(0)  # a fixed sequence of fresh draws

    def forward(self, x):
        out = self.inner(x)
        return out + self.scale * out.std().detach() * torch.randn(out.shape, generator=self.g)


def test_randomised_checks_compare_paired_images_not_two_single_draws(weak_linear, synth):
    honest = _by_name(Jitter(weak_linear), synth, square_queries=0, repeats=2)
    flipped = _by_name(Jitter(GradFlipped(weak_linear)), synth, square_queries=0, repeats=2)
    eps0 = honest["eps = 0 gives the clean accuracy"]
    # draw noise alone moves the eps-0 evaluation far from the clean one (beyond the earlier
    # 3-point allowance), in the direction an attack cannot push it: no evidence of a bug
    assert eps0.numbers["eps0"] - eps0.numbers["clean"] > 0.03, eps0.numbers
    for name in ("accuracy falls as eps grows", "eps = 0 gives the clean accuracy",
                 "more steps never help the defender", "single-step weaker than iterative"):
        assert honest[name].passed, (name, honest[name].numbers)
    # a reversed gradient still fails them under the same draw noise: the attack that should
    # be weaker is significantly stronger on the paired images
    for name in ("accuracy falls as eps grows", "single-step weaker than iterative"):
        assert not flipped[name].passed, (name, flipped[name].numbers)
    assert flipped["about 0 at a large eps"].numbers["accuracy"] > 0.5


def test_randomised_eps_zero_check_fails_when_the_loop_breaks_images(weak_linear, synth,
                                                                      monkeypatch):
    from tickets import attacks

    def leaky(delta, x, eps, norm):  # keeps the image range, forgets the eps-ball
        return (x + delta).clamp(0, 1) - x

    monkeypatch.setattr(attacks, "_project", leaky)
    broken = _by_name(Jitter(weak_linear, 0.3), synth, square_queries=0, repeats=2)
    check = broken["eps = 0 gives the clean accuracy"]
    assert not check.passed, check.numbers
