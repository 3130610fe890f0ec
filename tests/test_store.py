import torch

from tickets import models
from tickets.masks import load_ticket, save_ticket
from tickets.store import Store, atomic_write_json, read_json


def test_ticket_round_trip_is_small_and_exact(tmp_path, synth):
    model = models.build("conv4", width=0.5, remaining=0.1, init_seed=7)
    # give BatchNorm non-trivial running statistics, as a search would
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(synth.train.images(slice(0, 64)))
    model.eval()
    n_weights = models.param_counts(model)["total"]
    size = save_ticket(model, tmp_path / "t.pt")
    assert size == (tmp_path / "t.pt").stat().st_size
    # one bit per weight, plus BN statistics and a small container overhead
    assert n_weights / 8 <= size <= n_weights / 8 * 1.05 + 8192, (size, n_weights / 8)
    loaded = load_ticket(tmp_path / "t.pt").eval()
    x = synth.test.images(slice(0, 16))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_store_caches_and_writes_atomically(tmp_path):
    from tickets.config import ModelConfig

    store = Store(tmp_path)
    cfg = ModelConfig(name="conv2")
    calls = []
    r1 = store.cached(cfg, "eval", lambda: calls.append(1) or {"acc": 0.5})
    r2 = store.cached(cfg, "eval", lambda: calls.append(1) or {"acc": 0.9})
    assert r1 == r2 == {"acc": 0.5} and len(calls) == 1
    d = store.run_dir(cfg)
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]
    other = store.run_dir(ModelConfig(name="conv2", init_seed=1))
    assert other != d


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    f = tmp_path / "r.json"
    atomic_write_json(f, {"a": 1})
    try:
        atomic_write_json(f, {"bad": object()})
    except TypeError:
        pass
    assert read_json(f) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
