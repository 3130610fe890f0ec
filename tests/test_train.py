import pytest
import torch

from tickets import config, layers, train
from tickets.store import Store


def _cfg(synth, **changes):
    base = config.RunConfig(
        model=config.ModelConfig(name="conv2", width=0.25),
        data=synth.cfg,
        train=config.TrainConfig(remaining=0.3, epochs=2, batch_size=128,
                                 adversary=config.AttackConfig(steps=2), n_val_eval=64,
                                 val_attack=config.AttackConfig(steps=2)))
    return config.replace(base, **changes)


def _state(run):
    return run.model("last", device="cpu").state_dict()


@pytest.mark.parametrize("trainable", ["scores", "weights"])
def test_resume_is_bit_exact(synth, tmp_path, trainable):
    cfg = _cfg(synth, **{"train.trainable": trainable})
    full = train.train(cfg, synth, Store(tmp_path / "a"), device="cpu", progress=False)
    # kill after 3 steps (mid-epoch: 4 steps per epoch), then resume twice
    part = train.train(cfg, synth, Store(tmp_path / "b"), device="cpu", progress=False,
                       stop_after_steps=3)
    assert not part.finished
    part = train.train(cfg, synth, Store(tmp_path / "b"), device="cpu", progress=False,
                       stop_after_steps=6)
    assert not part.finished
    resumed = train.train(cfg, synth, Store(tmp_path / "b"), device="cpu", progress=False)
    assert resumed.finished
    assert resumed.history == full.history
    assert resumed.passes == full.passes
    a, b = _state(full), _state(resumed)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_configuration_same_mask(synth, tmp_path):
    cfg = _cfg(synth)
    r1 = train.train(cfg, synth, Store(tmp_path / "a"), device="cpu", progress=False)
    r2 = train.train(cfg, synth, Store(tmp_path / "b"), device="cpu", progress=False)
    m1, m2 = layers.get_masks(r1.model("last", "cpu")), layers.get_masks(r2.model("last", "cpu"))
    assert all(torch.equal(m1[k], m2[k]) for k in m1)
    # and the search really moved the mask away from the initial scores' top-k
    fresh = layers.get_masks(train.prepare_model(cfg, torch.device("cpu")))
    assert any(not torch.equal(m1[k], fresh[k]) for k in m1)


def test_rerun_loads_from_the_store(synth, tmp_path, monkeypatch):
    cfg = _cfg(synth, **{"train.epochs": 1})
    first = train.train(cfg, synth, Store(tmp_path), device="cpu", progress=False)

    def boom(*a, **k):
        raise AssertionError("a finished run must not be recomputed")

    monkeypatch.setattr(train, "perturb", boom)
    again = train.train(cfg, synth, Store(tmp_path), device="cpu", progress=False)
    assert again.history == first.history and again.finished


def test_history_records_validation_and_cost(synth, tmp_path):
    cfg = _cfg(synth)
    run = train.train(cfg, synth, Store(tmp_path), device="cpu", progress=False)
    assert len(run.history) == 2
    for row in run.history:
        assert 0 <= row["val_robust"] <= row["val_clean"] <= 1
    # 2 epochs x 4 steps x 128 images x (PGD-2 + 1 update)
    assert run.passes == 2 * 4 * 128 * 3
    assert run.best_epoch in (1, 2)
    assert (run.directory / "best.pt").exists() and (run.directory / "last.pt").exists()


def test_schedules():
    tc = config.TrainConfig(epochs=10, lr=0.1, milestones=(0.5, 0.75))
    assert train.lr_at(tc, 0, 10) == pytest.approx(0.1)
    assert train.lr_at(tc, 50, 10) == pytest.approx(0.01)
    assert train.lr_at(tc, 80, 10) == pytest.approx(0.001)
    cos = config.TrainConfig(epochs=10, lr=0.1, schedule="cosine", warmup_epochs=1)
    assert train.lr_at(cos, 0, 10) == pytest.approx(0.01)
    assert train.lr_at(cos, 99, 10) < 0.001


def test_the_ledger_counts_what_reuse_saves(synth, tmp_path, monkeypatch):
    """Every training call leaves a ledger line; the bench's reuse figure is the passes the
    notebooks asked for (each run once per notebook) over the passes trained."""
    from tickets import bench

    a, b = _cfg(synth, **{"train.epochs": 1}), _cfg(synth, **{"train.epochs": 1, "train.seed": 1})
    store = Store(tmp_path)
    monkeypatch.setenv("TICKETS_NOTEBOOK", "01_x")
    ra = train.train(a, synth, store, device="cpu", progress=False)
    train.train(a, synth, store, device="cpu", progress=False)  # the same notebook again
    rb = train.train(b, synth, store, device="cpu", progress=False)
    monkeypatch.setenv("TICKETS_NOTEBOOK", "02_y")
    train.train(a, synth, store, device="cpu", progress=False)
    monkeypatch.delenv("TICKETS_NOTEBOOK")
    train.train(b, synth, store, device="cpu", progress=False)  # no notebook: not counted
    fig = bench.reuse_figures(tmp_path)
    assert fig["reuse_notebooks"] == 2 and fig["reuse_runs_asked"] == 3
    assert fig["reuse_runs_distinct"] == 2 and fig["reuse_runs_trained_in_ledger"] == 2
    want = (2 * ra.passes + rb.passes) / (ra.passes + rb.passes)
    assert fig["reuse_training_passes_saved_speedup"] == pytest.approx(want)
    assert bench.reuse_figures(tmp_path / "empty") == {}


def test_precision_autocasts_only_for_bf16():
    cpu = torch.device("cpu")
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(2, 3, 8, 8)
    with train.Precision("fp32", cpu).autocast():
        assert conv(x).dtype == torch.float32
    with train.Precision("bf16", cpu).autocast():
        assert conv(x).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision='fp16'"):
        train.Precision("fp16", cpu).autocast()
    opt = train.Precision("fp32", cpu).optimizer(list(conv.parameters()), lr=0.1, momentum=0.9)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 0.1


def test_the_paper_protocol_chooses_on_the_whole_test_subset_with_its_own_attack(
        synth, tmp_path, monkeypatch):
    """The test-set checkpoint choice (track_test) attacks every test image with the paper
    protocol's PGD (early stop per sample), not with the validation attack; its record is
    that attack's figure for the best_test weights."""
    from tickets import attacks
    from tickets.recipes import paper_pgd

    own = paper_pgd(8 / 255, 3)
    cfg = _cfg(synth, **{"train.track_test": True, "train.test_attack": own,
                         "train.n_test_eval": 0})
    calls = []

    def spy(model, split, attack, n=0, **kw):
        calls.append((split, attack, n))
        return attacks.evaluate(model, split, attack, n=n, **kw)

    monkeypatch.setattr(train, "evaluate", spy)
    run = train.train(cfg, synth, Store(tmp_path), device="cpu", progress=False)
    on_test = [(a, n) for split, a, n in calls if split is synth.test]
    on_val = [(a, n) for split, a, n in calls if split is synth.val]
    assert on_test == [(own, 0)] * cfg.train.epochs
    assert own.early_stop and own != cfg.train.val_attack
    assert on_val == [(cfg.train.val_attack, cfg.train.n_val_eval)] * cfg.train.epochs
    # the record: the best test figure, and re-measuring the stored best_test weights with
    # the same attack on the whole test subset gives it again
    best = max(range(len(run.history)), key=lambda i: (run.history[i]["test_robust"], i))
    assert run.best_test_epoch == best + 1
    again = attacks.evaluate(run.model("best_test", device="cpu"), synth.test, own, n=0,
                             seed=10_000 + best)
    assert again.n == len(synth.test) == 256
    assert again.robust == run.history[best]["test_robust"]
    assert again.clean == run.history[best]["test_clean"]


def test_the_test_choice_runs_the_evaluations_early_stop_pgd(synth, monkeypatch):
    """base_config's test attack is the evaluation's own (EvalSpec.paper_pgd at the
    evaluation's steps, eps and step size), on the whole test subset; an epoch's test
    evaluation runs PGD with early stop per sample, in eval mode, on every test image."""
    from tickets import attacks
    from tickets.evaluation import EvalSpec
    from tickets.recipes import base_config

    for eps, steps in ((8 / 255, 20), (8 / 255, 3), (4 / 255, 10)):
        tc = base_config(eps=eps, eval_pgd_steps=steps, precision="fp32").train
        assert tc.track_test and tc.n_test_eval == 0 and tc.test_attack.early_stop
        assert tc.test_attack == EvalSpec(eps=eps, pgd_steps=steps).paper_pgd()
    assert base_config(track_test=False, precision="fp32").train.n_test_eval == 0
    tc = base_config(eval_pgd_steps=4, precision="fp32").train
    seen = []

    def spy(model, x, y, eps, alpha, steps, norm, loss, random_start, restarts, early_stop,
            generator, bn_mode="eval"):
        seen.append((len(x), steps, early_stop, bn_mode))
        return x

    monkeypatch.setattr(attacks, "pgd", spy)
    model = train.prepare_model(_cfg(synth), torch.device("cpu"))
    row = train._epoch_eval(model, synth, tc, 0, "test")
    assert seen == [(256, 4, True, "eval")]  # one batch: the whole test subset
    assert set(row) == {"test_clean", "test_robust"}


def test_flaw_c_reaches_the_training_attack(synth, tmp_path, monkeypatch):
    """base_config(adv_bn='update') (the released code's flaw (c)) crafts every training
    example with BatchNorm in train mode, updating its running statistics."""
    from tickets.recipes import base_config

    cfg = base_config(model="conv2", width=0.25, dataset="synthetic", n_train=256, n_val=64,
                      epochs=1, batch_size=128, adversary="pgd", adv_steps=1, val_steps=1,
                      n_val_eval=32, adv_bn="update", precision="fp32")
    assert cfg.train.adv_bn == "update"
    modes, original = [], train.perturb

    def spy(model, x, y, adversary, g, bn_mode="eval"):
        modes.append(bn_mode)
        before = [b.clone() for n, b in model.named_buffers() if n.endswith("running_mean")]
        out = original(model, x, y, adversary, g, bn_mode=bn_mode)
        after = [b for n, b in model.named_buffers() if n.endswith("running_mean")]
        assert any(not torch.equal(u, v) for u, v in zip(before, after, strict=True))
        return out

    monkeypatch.setattr(train, "perturb", spy)
    train.train(cfg, synth, Store(tmp_path), device="cpu", progress=False)
    assert modes == ["update"] * (len(synth.train) // 128)  # every step of the epoch


def test_early_stop_differentiates_only_the_images_still_standing(synth, trained_model,
                                                                  monkeypatch):
    """The paper protocol's early-stop PGD (the test choice's attack) spends gradients only on
    the images not yet misclassified, and crafts exactly the examples of the full-batch form
    that zeroes the others' steps."""
    from tickets import attacks
    from tickets.recipes import paper_pgd

    a = paper_pgd(8 / 255, 10)
    x, y = synth.test.images(), synth.test.y

    def full_batch_form(g):
        with attacks.eval_mode(trained_model):
            delta = attacks._random_start(x, a.eps, a.norm, g)
            active = torch.ones(len(x), dtype=torch.bool)
            for _ in range(a.steps):
                grad, logits = attacks.input_grad(trained_model, x + delta, y)
                active &= logits.argmax(1) == y
                if not active.any():
                    break
                grad = grad * active.view(-1, 1, 1, 1)
                delta = attacks._project(delta + attacks._step(grad, a.alpha, a.norm), x,
                                         a.eps, a.norm)
        return x + delta

    expected = full_batch_form(torch.Generator().manual_seed(5))
    passes, real = [], attacks.input_grad

    def counting(model, xs, *args, **kw):
        passes.append(len(xs))
        return real(model, xs, *args, **kw)

    monkeypatch.setattr(attacks, "input_grad", counting)
    got = attacks.perturb(trained_model, x, y, a, torch.Generator().manual_seed(5))
    assert torch.equal(got, expected)
    assert passes[0] == len(x) and sum(passes) < a.steps * len(x)
    assert all(later <= earlier for earlier, later in zip(passes, passes[1:], strict=False))
    assert (attacks.predict(trained_model, got) != y).any()
