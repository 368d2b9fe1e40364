"""Module 08's dropout explorers (deeptrain.explore.dropout) on a tiny grid.

Oracles: NumPy on the models' own deterministic predictions (accuracy, cross-entropy), np.mean
and np.std for the MC statistics, and deeptrain.kernels.regularization.mc_dropout_predict (a
separate MC-dropout implementation with its own random masks) for the sampled predictions.
"""
import numpy as np
import pytest

import deeptrain as dt
from deeptrain import data
from deeptrain.explore import REGISTRY, dropout as D

tf = dt.setup()
EPOCHS = 2


@pytest.fixture(scope="module")
def small():
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = data.load_fashion_mnist(
        n_train=600, n_valid=300, n_test=40, seed=1)
    return X_train, y_train, X_valid, y_valid, X_test, y_test


@pytest.fixture(scope="module")
def grid_and_model(small):
    """A grid of rates 0 and 0.5, the rate-0.5 model trained here and handed in (so the test sees it).

    train_grid makes its grid the explorers' current one: the one before is put back afterwards,
    so that other tests (the static figures) see the default grid, not this tiny one.
    """
    saved = dict(D._CURRENT)
    yield _tiny_grid(small)
    D._CURRENT.clear()
    D._CURRENT.update(saved)


def _tiny_grid(small):
    X_train, y_train, X_valid, y_valid, X_test, y_test = small
    model = D.build_mlp(0.5, seed=3)
    model.compile(optimizer=tf.keras.optimizers.Nadam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=EPOCHS, batch_size=128, verbose=0, validation_data=(X_valid, y_valid))
    grid = D.train_grid(X_train, y_train, X_valid, y_valid, X_test, y_test, rates=(0.0, 0.5), epochs=EPOCHS,
                        n_samples=60, batch_size=128, trained={0.5: (model, history)})
    return grid, model


def test_build_mlp_is_module_08s_network():
    layers = [type(layer).__name__ for layer in D.build_mlp(0.2).layers]
    assert layers == ["Flatten", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    plain = D.build_mlp(0.0)
    assert [type(layer).__name__ for layer in plain.layers] == ["Flatten", "Dense", "Dense", "Dense"]
    assert plain.count_params() == 784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    assert all(layer.rate == 0.2 for layer in D.build_mlp(0.2).layers if type(layer).__name__ == "Dropout")


def test_grid_shapes(grid_and_model):
    grid, _ = grid_and_model
    assert grid.rates == (0.0, 0.5) and grid.epochs == EPOCHS
    assert grid.samples.shape == (2, 60, 40, 10) and grid.single.shape == (2, 40, 10)
    for array in (grid.train_loss, grid.train_accuracy, grid.valid_loss, grid.valid_accuracy):
        assert array.shape == (2,) and np.all(np.isfinite(array))
    assert all(len(grid.history[r]["val_accuracy"]) == EPOCHS for r in grid.rates)


def test_evaluated_accuracy_and_loss_are_the_deterministic_models(small, grid_and_model):
    """Inference-mode numbers: accuracy and cross-entropy of model.predict, computed in NumPy."""
    X_train, y_train, X_valid, y_valid, X_test, _ = small
    grid, model = grid_and_model
    i = grid.index(0.5)
    for X, y, acc, loss in ((X_train, y_train, grid.train_accuracy[i], grid.train_loss[i]),
                            (X_valid, y_valid, grid.valid_accuracy[i], grid.valid_loss[i])):
        p = model.predict(X, verbose=0).astype(np.float64)
        assert acc == pytest.approx(np.mean(p.argmax(1) == y), abs=1e-6)
        assert loss == pytest.approx(-np.mean(np.log(p[np.arange(len(y)), y])), rel=1e-4)
    np.testing.assert_allclose(grid.single[i], model.predict(X_test, verbose=0), rtol=1e-5, atol=1e-7)


def test_the_handed_in_history_is_kept(grid_and_model):
    grid, model = grid_and_model
    assert grid.history[0.5]["loss"] == pytest.approx(model.history.history["loss"])


def test_without_dropout_every_sample_is_the_deterministic_prediction(grid_and_model):
    grid, _ = grid_and_model
    i = grid.index(0.0)
    mean, std = D.mc_stats(grid.samples[i], 60)
    np.testing.assert_allclose(mean, grid.single[i], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(std, 0.0, atol=1e-6)


def test_mc_samples_agree_with_the_kernels_mc_dropout_within_sampling_noise(small, grid_and_model):
    _, _, _, _, X_test, _ = small
    grid, model = grid_and_model
    i = grid.index(0.5)
    ours_mean, ours_std = D.mc_stats(grid.samples[i], 60)
    assert ours_std.max() > 0.01                                   # dropout on: the passes differ
    from deeptrain.kernels import regularization as kreg
    k_mean, k_std = kreg.mc_dropout_predict(model, X_test, 400, seed=5)
    z = np.abs(ours_mean - k_mean) / np.sqrt(ours_std**2 / 60 + k_std**2 / 400 + 1e-12)
    assert np.median(z) < 1.5, f"median difference {np.median(z):.2f} standard errors"


def test_mc_samples_draw_new_masks_at_every_pass(small, grid_and_model):
    _, model = grid_and_model
    X = small[4][:5]
    first, second = D.mc_samples(model, X, 3), D.mc_samples(model, X, 3)
    assert first.shape == (3, 5, 10) and first.dtype == np.float32
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first, second)


def test_mc_samples_traced_draw_the_masks_of_eager_calls(small):
    """mc_samples runs the passes in a tf.function; oracle: the same model, built with the same seed,
    called eagerly with training=True (its Dropout layers' seed generators advance alike)."""
    X = np.asarray(small[4][:6], dtype=np.float32)
    traced, eager = D.build_mlp(0.5, seed=7), D.build_mlp(0.5, seed=7)
    expected = np.stack([np.asarray(eager(X, training=True)) for _ in range(4)])
    np.testing.assert_array_equal(D.mc_samples(traced, X, 4), expected)


def test_mc_stats_and_running_mean_are_numpys_mean_and_std():
    samples = np.random.default_rng(0).random((30, 7, 10)).astype(np.float32)
    for n in (1, 5, 30):
        mean, std = D.mc_stats(samples, n)
        np.testing.assert_allclose(mean, samples[:n].astype(np.float64).mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(std, samples[:n].astype(np.float64).std(axis=0), rtol=1e-12, atol=1e-15)
    run = D.running_mean(samples)
    assert run.shape == samples.shape
    np.testing.assert_allclose(run[4], D.mc_stats(samples, 5)[0], rtol=1e-12)
    with pytest.raises(ValueError):
        D.mc_stats(samples, 31)


def test_refuses_a_rate_not_trained_and_a_model_trained_for_other_epochs(small, grid_and_model):
    grid, model = grid_and_model
    with pytest.raises(ValueError):
        grid.index(0.3)
    X_train, y_train, X_valid, y_valid, X_test, y_test = small
    with pytest.raises(ValueError, match="epochs"):
        D.train_grid(X_train, y_train, X_valid, y_valid, X_test, y_test, rates=(0.5,), epochs=EPOCHS + 1,
                     trained={0.5: (model, model.history)})


def test_draw_functions_show_the_current_grid(grid_and_model):
    grid, _ = grid_and_model
    D.set_current_grid(grid)
    fig = D.draw_rate(0.5)
    i = grid.index(0.5)
    assert f"validation {grid.valid_accuracy[i]:.3f}" in fig.axes[0].get_title()
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["validation"].get_ydata(), grid.valid_accuracy)
    fig = D.draw_mc(0.5, image=3, n_samples=7)
    mean, std = D.mc_stats(grid.samples[i, :, 3], 7)
    heights = [patch.get_height() for patch in fig.axes[1].patches]
    np.testing.assert_allclose(heights, mean, rtol=1e-6)
    controls = D.mc_controls()
    assert controls["rate"].options == (("0.5", 0.5),) and controls["n_samples"].max == 60
    assert [r for _, r in D.rate_controls()["rate"].options] == [0.0, 0.5]


def test_registered_and_silent_while_grading(monkeypatch, grid_and_model):
    assert REGISTRY["08_dropout_rate"][:2] == ("08_regularization", D.draw_rate)
    assert REGISTRY["08_mc_dropout"][:2] == ("08_regularization", D.draw_mc)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr(D, "_CURRENT", {})
    assert D.rate_explorer() is None and D.mc_explorer() is None
    assert D._CURRENT == {}                      # nothing was trained while grading
