"""Shared fixtures: small synthetic data and a small adversarially trained model."""

from __future__ import annotations

import pytest
import torch

from tickets import attacks, config, data, models

torch.set_num_threads(max(1, torch.get_num_threads()))


@pytest.fixture(scope="session")
def synth() -> data.Data:
    return data.load(config.DataConfig(dataset="synthetic", n_train=512, n_val=128, n_test=256,
                                       seed=0))


@pytest.fixture(scope="session")
def trained_model(synth: data.Data) -> torch.nn.Module:
    """A small dense convnet trained (clean, a few epochs) to high accuracy on synthetic data,
    so that attacks have something to break and accuracy falls gradually with eps."""
    torch.manual_seed(0)
    model = models.build("conv2", width=0.25, masked=False, init="kaiming_normal", init_seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x_all, y_all = synth.train.images(), synth.train.y
    for _ in range(10):
        perm = torch.randperm(len(y_all), generator=g)
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            model.train()
            loss = torch.nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    acc = (attacks.predict(model, synth.test.images()) == synth.test.y).float().mean().item()
    assert acc > 0.9, f"fixture model failed to learn the synthetic task (acc {acc:.2f})"
    return model
