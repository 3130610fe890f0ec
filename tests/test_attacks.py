import pytest
import torch

from tickets import attacks
from tickets.config import AttackConfig

EPS = 8 / 255


def _batch(synth, n=128):
    return synth.test.images(slice(0, n)), synth.test.y[:n]


@pytest.mark.parametrize("kind", ["fgsm", "fgsm_rs", "pgd"])
@pytest.mark.parametrize("norm,eps", [("linf", 8 / 255), ("l2", 0.5)])
def test_perturbation_stays_in_the_ball_and_the_image_range(trained_model, synth, kind, norm, eps):
    x, y = _batch(synth, 64)
    cfg = AttackConfig(kind=kind, eps=eps, alpha=eps / 4 if kind == "pgd" else eps, steps=5,
                       norm=norm)
    xa = attacks.perturb(trained_model, x, y, cfg, torch.Generator().manual_seed(0))
    assert xa.min() >= 0 and xa.max() <= 1
    delta = (xa - x).flatten(1)
    size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-5).all()
    assert (size > 0).any()


def test_attacks_leave_batchnorm_and_parameters_untouched(synth):
    from tickets import models

    model = models.build("conv2", width=0.25, remaining=0.5)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _batch(synth, 32)
    attacks.pgd(model, x, y, steps=3)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_eps_zero_gives_clean_accuracy(trained_model, synth):
    r = attacks.evaluate(trained_model, synth.test, AttackConfig(eps=0.0, steps=5), n=128)
    assert r.robust == r.clean


def test_accuracy_falls_with_eps_and_reaches_zero(trained_model, synth):
    accs = [attacks.evaluate(trained_model, synth.test,
                             AttackConfig(eps=e, alpha=max(e / 4, 1e-4), steps=10), n=128).robust
            for e in (0.0, 2 / 255, 8 / 255, 32 / 255, 128 / 255)]
    assert all(a >= b for a, b in zip(accs, accs[1:], strict=False)), accs
    assert accs[-1] <= 0.02, accs
    assert accs[0] > accs[-2], accs


def test_more_steps_and_restarts_never_help_the_defender(trained_model, synth):
    eps = 4 / 255
    base = dict(eps=eps, alpha=eps / 4)
    a1 = attacks.evaluate(trained_model, synth.test, AttackConfig(steps=2, **base), n=128).robust
    a2 = attacks.evaluate(trained_model, synth.test, AttackConfig(steps=20, **base), n=128).robust
    a3 = attacks.evaluate(trained_model, synth.test, AttackConfig(steps=20, restarts=3, **base),
                          n=128).robust
    assert a1 >= a2 >= a3, (a1, a2, a3)


def test_pgd_at_least_as_strong_as_fgsm(trained_model, synth):
    eps = 4 / 255
    f = attacks.evaluate(trained_model, synth.test, AttackConfig(kind="fgsm", eps=eps), n=128)
    p = attacks.evaluate(trained_model, synth.test, AttackConfig(eps=eps, alpha=eps / 4, steps=20),
                         n=128)
    assert p.robust <= f.robust


def test_early_stop_is_never_stronger_than_full_pgd(trained_model, synth):
    eps = 4 / 255
    full = attacks.evaluate(trained_model, synth.test, AttackConfig(eps=eps, steps=10), n=128)
    early = attacks.evaluate(trained_model, synth.test,
                             AttackConfig(eps=eps, steps=10, early_stop=True), n=128)
    # early stop only freezes already-misclassified samples, so the count of errors agrees or
    # is smaller only through the random start; it can never find errors full PGD cannot.
    assert early.robust >= full.robust - 2 / 128


def test_cw_loss_attack_runs(trained_model, synth):
    r = attacks.evaluate(trained_model, synth.test, AttackConfig(eps=8 / 255, steps=5, loss="cw"),
                         n=64)
    assert 0 <= r.robust <= r.clean


# Our PGD-50 (2 restarts, fixed step) against pyautoattack's APGD-CE on the same images.
# APGD-CE must be at least as strong (up to one sample in 100), and our PGD may trail it by at
# most 20 points. Measured on the clean-trained fixture: 26.5 % against 10 % at eps 10/255,
# and textbook PGD (tickets.bench.reference_pgd) gives 29.5 %: the gap is APGD's adaptive
# step size, not our implementation. Robust accuracies in the report carry AutoAttack beside
# PGD for this reason.
APGD_TOLERANCE = 0.20


@pytest.mark.slow
def test_pgd_agrees_with_autoattack_apgd_ce(trained_model, synth):
    # compare where robust accuracy is intermediate, so that the agreement means something
    for eps in [k / 255 for k in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32)]:
        quick = attacks.evaluate(trained_model, synth.test, AttackConfig(eps=eps, alpha=eps / 4,
                                                                         steps=10), n=200)
        if 0.2 <= quick.robust <= 0.8:
            break
    ours = attacks.evaluate(trained_model, synth.test,
                            AttackConfig(eps=eps, alpha=eps / 4, steps=50, restarts=2), n=200)
    apgd = attacks.autoattack(trained_model, synth.test, eps=eps, n=200, version="custom",
                              attacks=["apgd-ce"])
    assert ours.clean == apgd.clean
    assert 0.05 < apgd.robust < 0.95, "pick an eps where the comparison means something"
    assert apgd.robust <= ours.robust + 0.01, (ours.robust, apgd.robust)
    assert ours.robust - apgd.robust <= APGD_TOLERANCE, (ours.robust, apgd.robust)


def test_restarts_draw_independent_starts(trained_model, synth):
    """Restart k starts from the k-th draw of the generator: with no steps, two restarts keep
    per image the start of higher loss, so they differ from one restart somewhere; and R
    restarts begin with the one restart's start (same seed), so their worst case is never
    above it per image."""
    x, y = _batch(synth, 64)
    eps = 16 / 255

    def run(restarts, steps, seed=0):
        g = torch.Generator().manual_seed(seed)
        return attacks.pgd(trained_model, x, y, eps=eps, alpha=eps / 4, steps=steps,
                           restarts=restarts, generator=g)

    assert not torch.equal(run(1, 0), run(2, 0)), "the second restart replayed the first"
    one, many = run(1, 10), run(4, 10)
    right_one = attacks.predict(trained_model, one) == y
    right_many = attacks.predict(trained_model, many) == y
    assert not (right_many & ~right_one).any()


def test_the_loop_at_eps_zero_runs_and_leaves_the_images(trained_model, synth):
    x, y = _batch(synth, 32)
    calls = []

    def counting(inp):
        calls.append(1)
        return trained_model(inp)

    assert torch.equal(attacks.pgd(counting, x, y, eps=0.0, steps=3), x) and not calls
    out = attacks.pgd(counting, x, y, eps=0.0, alpha=2 / 255, steps=3, skip_at_zero=False)
    assert len(calls) == 4 and torch.equal(out, x), "3 steps and the final check, no move"
