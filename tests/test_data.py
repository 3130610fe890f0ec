import os
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from tickets import data
from tickets.config import DataConfig


def _write_tree(root, per_class=3, classes=("cat", "airplane", "dog")):
    g = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per_class):
                arr = g.integers(0, 255, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{i:04d}.png")


def test_image_folder_tree_and_targz(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path / "cache"))
    tree = tmp_path / "cifar10-jpeg"
    _write_tree(tree)
    a = data.load_arrays("cifar10", root=tmp_path)
    assert a["x_train"].shape == (9, 3, 32, 32) and a["x_train"].dtype == np.uint8
    assert list(a["classes"]) == ["airplane", "cat", "dog"]  # alphabetical = label order
    assert np.array_equal(a["y_test"], [0, 0, 0, 1, 1, 1, 2, 2, 2])
    # the same pixels as the file says
    first = np.asarray(Image.open(tree / "train" / "airplane" / "0000.png")).transpose(2, 0, 1)
    assert np.array_equal(a["x_train"][0], first)
    # and from a .tar.gz of the tree, passed as the root itself
    arch = tmp_path / "x.tar.gz"
    with tarfile.open(arch, "w:gz") as tar:
        tar.add(tree, arcname="cifar10-jpeg")
    b = data.load_arrays("cifar10", root=arch)
    assert all(np.array_equal(a[k], b[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    # the second load comes from the cache
    assert list((tmp_path / "cache").glob("*.npz"))


def test_stratified_subsets_and_disjoint_validation():
    y = np.repeat(np.arange(10), 100)
    val = data.stratified_indices(y, 50, seed=1)
    tr = data.stratified_indices(y, 200, seed=0, exclude=val)
    assert len(val) == 50 and len(tr) == 200
    assert np.all(np.bincount(y[val]) == 5) and np.all(np.bincount(y[tr]) == 20)
    assert not set(val) & set(tr)
    assert np.array_equal(tr, data.stratified_indices(y, 200, seed=0, exclude=val))


def test_augment_is_seeded_and_shape_preserving():
    x = torch.rand(16, 3, 32, 32)
    a = data.augment(x, torch.Generator().manual_seed(0))
    b = data.augment(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    # a crop at offset (4, 4) without a flip is the identity: some images keep most pixels
    assert ((a == x).flatten(1).float().mean(1) > 0.99).sum() < 16


OFFLINE = os.environ.get(data.ENV_VAR)


@pytest.mark.skipif(not OFFLINE and not os.environ.get("TICKETS_REQUIRE_DATA"),
                    reason=f"{data.ENV_VAR} is not set")
def test_offline_cifar10_archive():
    d = data.load(DataConfig(dataset="cifar10", n_train=1000, n_val=200, n_test=500))
    assert d.classes == data.CIFAR10_CLASSES
    assert d.train.x.shape == (1000, 3, 32, 32) and d.train.x.dtype == torch.uint8
    assert len(d.val) == 200 and len(d.test) == 500
    assert torch.bincount(d.train.y).tolist() == [100] * 10
    full = data.load_arrays("cifar10")
    assert full["x_train"].shape == (50000, 3, 32, 32) and full["x_test"].shape[0] == 10000
    assert np.bincount(full["y_test"]).tolist() == [1000] * 10
    mean = full["x_train"].reshape(-1, 3, 1024).mean((0, 2)) / 255
    assert np.allclose(mean, [0.4914, 0.4822, 0.4465], atol=0.002)


def test_every_prefix_of_a_split_is_class_balanced():
    # sources list images class by class; evaluations take the first k of a split
    y = np.repeat(np.arange(10), 100)
    idx = data.stratified_indices(y, 500, seed=0)
    assert len(np.unique(y[idx[:50]])) >= 8
    full = data.stratified_indices(y, 0, seed=0)
    assert sorted(full) == list(range(1000)) and len(np.unique(y[full[:50]])) >= 8
