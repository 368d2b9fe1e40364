"""capstone.evaluate and capstone.ablate train a recipe once per seed and data in a kernel: a run
already trained (same recipe, seed and data) is remembered, because training is deterministic.
The replay is replaced by a counting fake here: these tests are about what gets trained."""
import numpy as np
import pytest

from deeptrain import capstone


@pytest.fixture
def trained(monkeypatch):
    """Fake replay: accuracy from the recipe's batch size and the seed; records each (batch size, seed)
    trained, and each call's seeds in calls.batches (evaluate trains the seeds it lacks in one call)."""
    calls = Calls()
    calls.batches = []

    def replay(recipe, X_train, y_train, X_valid, y_valid, X_eval, y_eval, seeds=(0,), wall_cap_s=None, **kw):
        calls.batches.append(tuple(seeds))
        accs = []
        for seed in seeds:
            calls.append((recipe["fit"]["batch_size"], seed, len(X_train)))
            accs.append(0.5 + recipe["fit"]["batch_size"] / 1000 + seed / 100)
        return {"accuracy": float(np.mean(accs)), "accuracies": accs, "seeds": list(seeds),
                "spread": max(accs) - min(accs), "examples_seen": 20, "steps": 2, "seconds": 1.0 * len(seeds),
                "run_seconds": [1.0] * len(seeds), "stopped_by_wall_cap": False, "params": 7}

    def record(build_and_train, data=None, examples=None):
        return build_and_train()

    monkeypatch.setattr(capstone.recipes, "replay", replay)
    monkeypatch.setattr(capstone, "record", record)
    capstone.forget_runs()
    yield calls
    capstone.forget_runs()


class Calls(list):
    """The (batch size, seed, training images) trained, in order; .batches: the seeds of each replay call."""
    batches = None


def _entry(batch_size=32, name="sequential_7", seed=None):
    """A stand-in for build_and_train: what record() returns is its recipe."""
    return {"model": {"class_name": "Sequential", "module": "keras", "config": {"name": name, "layers": [
        {"class_name": "Dense", "module": "keras.layers", "config": {"name": "dense_3", "units": 100,
         "kernel_initializer": {"class_name": "HeNormal", "module": "keras.initializers", "config": {"seed": seed}}}}]}},
        "fit": {"batch_size": batch_size, "epochs": 2, "validation": False, "callbacks": []}}


def _data(n=10):
    X = np.zeros((n, 2, 2), np.float32)
    y = np.zeros(n, np.uint8)
    return (X, y), (X[:3], y[:3])


def test_the_same_recipe_is_trained_once_per_seed_and_gives_the_same_report(trained):
    data = _data()
    first = capstone.evaluate(_entry, seeds=(0, 1, 2), data=data, verbose=False)
    again = capstone.evaluate(lambda: _entry(name="sequential_8", seed=5), seeds=(0, 1, 2, 3), data=data, verbose=False)
    assert trained == [(32, 0, 10), (32, 1, 10), (32, 2, 10), (32, 3, 10)]   # names and seeds are not the recipe
    assert first["reused"] == 0 and again["reused"] == 3
    assert again["accuracies"][:3] == first["accuracies"] and first["spread"] == pytest.approx(0.02)
    assert trained.batches == [(0, 1, 2), (3,)]     # the seeds it lacks, in one call
    assert first["seconds"] == 3.0 and again["seconds"] == 4.0


def test_another_recipe_or_other_data_is_trained(trained):
    capstone.evaluate(_entry, seeds=(0,), data=_data(), verbose=False)
    capstone.evaluate(lambda: _entry(batch_size=64), seeds=(0,), data=_data(), verbose=False)
    (X, y), valid = _data()
    X[0, 0, 0] = 1.0                                       # one pixel differs
    capstone.evaluate(_entry, seeds=(0,), data=((X, y), valid), verbose=False)
    capstone.evaluate(_entry, seeds=(0,), data=_data(12), verbose=False)
    assert trained == [(32, 0, 10), (64, 0, 10), (32, 0, 10), (32, 0, 12)]


def test_ablate_trains_only_the_variants_not_seen_before(trained, capsys):
    data = _data()

    def build_and_train(batch_size=32):
        return _entry(batch_size)

    capstone.evaluate(build_and_train, data=data, verbose=False)            # the entry, 3 runs
    table = capstone.ablate(build_and_train, {"entry": {}, "batch 64": {"batch_size": 64}}, data=data)
    assert [c[:2] for c in trained] == [(32, 0), (32, 1), (32, 2), (64, 0), (64, 1), (64, 2)]
    assert "3 training runs" in capsys.readouterr().out
    assert table.change("batch 64") == pytest.approx(0.032)


def test_forget_runs_trains_again(trained):
    capstone.evaluate(_entry, seeds=(0,), data=_data(), verbose=False)
    capstone.forget_runs()
    capstone.evaluate(_entry, seeds=(0,), data=_data(), verbose=False)
    assert len(trained) == 2
