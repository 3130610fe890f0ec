import pytest

from tickets import config, data, models
from tickets.config import AttackConfig, ConfigError, DataConfig, ModelConfig, TrainConfig
from tickets.recipes import base_config


@pytest.mark.parametrize("make,needle", [
    (lambda: models.build_from_config(ModelConfig(name="vgg99")), "model.name='vgg99'"),
    (lambda: base_config(model="vgg99"), "model='vgg99'"),
    (lambda: ModelConfig(init="zeros").validate(), "model.init='zeros'"),
    (lambda: ModelConfig(pattern="diagonal").validate(), "model.pattern='diagonal'"),
    (lambda: ModelConfig(width=0).validate(), "model.width=0"),
    (lambda: TrainConfig(remaining=0.0).validate(), "train.remaining=0.0"),
    (lambda: TrainConfig(remaining=1.5).validate(), "train.remaining=1.5"),
    (lambda: TrainConfig(epochs=0).validate(), "train.epochs=0"),
    (lambda: TrainConfig(schedule="step").validate(), "train.schedule='step'"),
    (lambda: AttackConfig(eps=-0.1).validate(), "attack.eps=-0.1"),
    (lambda: AttackConfig(steps=0).validate(), "attack.steps=0"),
    (lambda: AttackConfig(kind="cw").validate(), "attack.kind='cw'"),
    (lambda: AttackConfig(norm="l1").validate(), "attack.norm='l1'"),
    (lambda: DataConfig(dataset="imagenet").validate(), "data.dataset='imagenet'"),
    (lambda: TrainConfig(adversary=AttackConfig(steps=0)).validate(), "train.adversary.steps=0"),
    (lambda: TrainConfig(n_test_eval=-1).validate(), "train.n_test_eval=-1"),
    (lambda: TrainConfig(test_attack=AttackConfig(steps=0)).validate(),
     "train.test_attack.steps=0"),
    (lambda: base_config(adv_bn="train"), "train.adv_bn='train'"),
    (lambda: models.build("resnet50"), "model.name='resnet50'"),
    (lambda: models.build("conv4", remaining=0), "remaining=0"),
])
def test_bad_values_raise_a_clear_error(make, needle):
    with pytest.raises(ConfigError) as err:
        make()
    msg = str(err.value)
    assert needle in msg
    assert "allowed" in msg or "must" in msg or "needs" in msg


def test_error_lists_the_allowed_values():
    with pytest.raises(ConfigError, match="signed_constant"):
        ModelConfig(init="zeros").validate()


def test_run_level_consistency():
    with pytest.raises(ConfigError, match="model.masked"):
        config.RunConfig(model=ModelConfig(masked=False)).validate()
    with pytest.raises(ConfigError, match="num_classes"):
        config.RunConfig(data=DataConfig(dataset="cifar100")).validate()


def test_replace_with_dotted_names_and_unknown_names():
    run = config.RunConfig()
    r2 = config.replace(run, **{"train.epochs": 3, "model.width": 0.5})
    assert r2.train.epochs == 3 and r2.model.width == 0.5 and run.train.epochs == 10
    with pytest.raises(ConfigError, match="epochz"):
        config.replace(run, **{"train.epochz": 3})


def test_hash_is_stable_and_sensitive():
    a, b = config.RunConfig(), config.RunConfig()
    assert config.config_hash(a) == config.config_hash(b)
    assert config.config_hash(a) != config.config_hash(config.replace(a, **{"train.seed": 1}))


def test_the_test_choice_changes_the_key_only_of_runs_that_track_test():
    """train.test_attack and train.n_test_eval act only with train.track_test: without it they
    stay out of the store key, which is the key runs had before the fields existed."""
    plain = config.RunConfig()
    assert config.config_hash(plain) == "28d091ffcb4e"  # RunConfig()'s key before the fields
    other = {"train.test_attack": AttackConfig(steps=5, early_stop=True),
             "train.n_test_eval": 100}
    assert config.config_hash(config.replace(plain, **other)) == config.config_hash(plain)
    tracking = config.replace(plain, **{"train.track_test": True})
    assert config.config_hash(config.replace(tracking, **other)) != config.config_hash(tracking)
    for change in other.items():
        assert (config.config_hash(config.replace(tracking, **dict([change])))
                != config.config_hash(tracking)), change[0]


def test_missing_dataset_names_the_variable_and_layouts(tmp_path):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_arrays("cifar10", root=tmp_path / "nothing-here", download=False)
    msg = str(err.value)
    assert data.ENV_VAR in msg
    assert "cifar-10-batches-py" in msg and ".tar.gz" in msg and "train/<class>" in msg
