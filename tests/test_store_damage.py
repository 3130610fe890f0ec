"""A store that survives damage: each kind of stored file, truncated, is named in a warning,
set aside and recomputed to the same result; a damaged data archive is named in the error."""

import tarfile
import warnings

import pytest
import torch

from tickets import data
from tickets.evaluation import EvalSpec, evaluate_run, run_eval_key
from tickets.masks import load_ticket, save_ticket
from tickets.recipes import base_config, rst_config
from tickets.store import Store, StoreError, StoreWarning
from tickets.train import train


@pytest.fixture(scope="module")
def cfg():
    return rst_config(base_config(model="conv2", width=0.25, dataset="synthetic", n_train=256,
                                  n_val=64, epochs=2, batch_size=128, adversary="fgsm",
                                  adv_steps=1, val_steps=1, n_val_eval=32, track_test=True), 0.3)


SPEC = EvalSpec(n_test=32, pgd_steps=2, aa_n=0, paper_protocol=False)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


def _weights(run, which="best"):
    return {k: v.clone() for k, v in run.model(which, device="cpu").state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture()
def reference(cfg, synth, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("clean"))
    run = train(cfg, synth, store, device="cpu", progress=False)
    return run, _weights(run), _weights(run, "last"), evaluate_run(run, synth, SPEC, store)


@pytest.mark.parametrize("damaged", ["result.json", "best.pt", "last.pt", "best_test.pt"])
def test_a_damaged_run_file_is_named_and_the_run_recomputed(damaged, cfg, synth, tmp_path,
                                                           reference):
    ref_run, ref_best, ref_last, _ = reference
    store = Store(tmp_path)
    train(cfg, synth, store, device="cpu", progress=False)
    f = store.run_dir(cfg, kind="train") / damaged
    _truncate(f)
    with pytest.warns(StoreWarning, match=damaged):
        run = train(cfg, synth, store, device="cpu", progress=False)
    assert (f.parent / f"{damaged}.corrupt").exists()
    assert run.history == ref_run.history and run.passes == ref_run.passes
    assert _same(_weights(run), ref_best) and _same(_weights(run, "last"), ref_last)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        train(cfg, synth, store, device="cpu", progress=False)  # healthy again: no warning


def test_a_damaged_checkpoint_restarts_the_run_to_the_same_result(cfg, synth, tmp_path,
                                                                 reference):
    ref_run, ref_best, _, _ = reference
    store = Store(tmp_path)
    train(cfg, synth, store, device="cpu", progress=False, stop_after_steps=1)
    ckpt = store.run_dir(cfg, kind="train") / "checkpoint.pt"
    assert ckpt.exists()
    _truncate(ckpt)
    with pytest.warns(StoreWarning, match="checkpoint.pt"):
        run = train(cfg, synth, store, device="cpu", progress=False)
    assert run.finished and run.history == ref_run.history and _same(_weights(run), ref_best)


def test_a_damaged_evaluation_is_recomputed(cfg, synth, tmp_path, reference):
    _, _, _, ref_eval = reference
    store = Store(tmp_path)
    run = train(cfg, synth, store, device="cpu", progress=False)
    evaluate_run(run, synth, SPEC, store)
    f = store.run_dir(run_eval_key(run, synth, SPEC), kind="eval") / "eval-strict-best.json"
    _truncate(f)
    with pytest.warns(StoreWarning, match="eval-strict-best.json"):
        again = evaluate_run(run, synth, SPEC, store)
    assert {k: v for k, v in again.items() if "seconds" not in k} == {
        k: v for k, v in ref_eval.items() if "seconds" not in k}


def test_a_damaged_awt_mask_is_recomputed(cfg, synth, tmp_path):
    from tickets.studies import awt

    spec = awt.MaskSpec(snip_batch=32)
    store = Store(tmp_path)
    masks, _ = awt.find_mask(cfg, "snip", 0.8, synth, spec, store, progress=False)
    (f,) = tmp_path.glob("mask-*/masks.pt")
    _truncate(f)
    with pytest.warns(StoreWarning, match="masks.pt"):
        again, _ = awt.find_mask(cfg, "snip", 0.8, synth, spec, store, progress=False)
    assert all(torch.equal(masks[n], again[n]) for n in masks)


def test_a_damaged_ticket_file_is_named(cfg, synth, tmp_path, reference):
    run = reference[0]
    path = tmp_path / "t.pt"
    save_ticket(run.model("best", device="cpu"), path)
    _truncate(path)
    with pytest.raises(StoreError, match="t.pt is not a readable ticket"):
        load_ticket(path)


def test_a_damaged_data_archive_names_the_file_and_the_layouts(tmp_path):
    good = tmp_path / "src" / "train" / "cat"
    good.mkdir(parents=True)
    (good / "a.jpg").write_bytes(b"\xff\xd8" + b"0" * 4000)
    archive = tmp_path / "cifar10-jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src", arcname="cifar10-jpeg")
    _truncate(archive)
    with pytest.raises(data.DataCorruptError) as e:
        data.load_arrays("cifar10", archive, download=False)
    assert "cifar10-jpeg.tar.gz" in str(e.value) and "image-folder tree" in str(e.value)
