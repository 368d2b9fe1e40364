"""Module 06: the task A / task B split (NumPy reference) and the Keras model surgery of
transfer learning (kernels), against independent oracles: label counts from np.unique,
hand-built arrays, the seeds' worked example on the real data, weight equality, variable
identity and what training actually changes."""
import numpy as np
import pytest
import tensorflow as tf

from deeptrain import data, reference
from deeptrain.kernels import transfer as kt

keras = tf.keras
L = keras.layers


# --- split_task_a_b ---------------------------------------------------------------------

def test_split_task_a_b_relabels_hand_built_example():
    y = np.array([0, 5, 9, 6, 7, 4, 8, 6, 5, 1], dtype=np.uint8)
    X = np.arange(10)[:, None] * np.ones((1, 3))
    (XA, yA), (XB, yB) = reference.split_task_a_b(X, y)
    np.testing.assert_array_equal(yA, [0, 7, 5, 4, 6, 1])        # 9 -> 7, 7 -> 5, 8 -> 6
    np.testing.assert_array_equal(XA[:, 0], [0, 2, 4, 5, 6, 9])  # rows in their original order
    np.testing.assert_array_equal(yB, [0, 1, 1, 0])              # sandal 0, shirt 1
    np.testing.assert_array_equal(XB[:, 0], [1, 3, 7, 8])
    assert yB.dtype == np.float32 and yA.dtype == y.dtype


def test_split_task_a_b_label_counts_match_np_unique():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 5000)
    counts = dict(zip(*np.unique(y, return_counts=True)))
    (XA, yA), (XB, yB) = reference.split_task_a_b(rng.normal(size=(5000, 4)), y)
    got = dict(zip(*np.unique(yA, return_counts=True)))
    expected = {c: counts[c] for c in range(5)} | {5: counts[7], 6: counts[8], 7: counts[9]}
    assert got == expected
    assert len(XA) == len(yA) and len(XB) == len(yB) == counts[5] + counts[6]
    assert yB.sum() == counts[6]


def test_split_task_a_b_keeps_rows_and_their_order():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 300)
    X = rng.normal(size=(300, 2, 2))
    (XA, _), (XB, _) = reference.split_task_a_b(X, y)
    in_b = np.isin(y, [5, 6])
    np.testing.assert_array_equal(XA, X[~in_b])
    np.testing.assert_array_equal(XB, X[in_b])


def test_split_task_a_b_leaves_its_inputs_unchanged():
    y = np.array([9, 8, 7, 6, 5, 4], dtype=np.int64)
    X = np.ones((6, 2))
    (XA, yA), _ = reference.split_task_a_b(X, y)
    yA[:] = -1
    XA[:] = 0
    np.testing.assert_array_equal(y, [9, 8, 7, 6, 5, 4])
    np.testing.assert_array_equal(X, 1)


def test_split_task_a_b_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        reference.split_task_a_b(np.zeros((4, 2)), np.zeros(5, dtype=int))


def test_split_task_a_b_seeds_worked_example_has_43986_task_a_rows():
    """The seeds' X_train_A.shape == (43986, 28, 28), on the book's split: its validation set is
    the FIRST 5,000 training images, its training set the last 55,000."""
    if data.find_data_dir() is None:
        pytest.skip("Fashion-MNIST not available offline")
    (X_full, y_full), (X_test, y_test) = data.load_raw()
    (XA, yA), (XB, yB) = reference.split_task_a_b(X_full[5000:], y_full[5000:])
    assert XA.shape == (43_986, 28, 28)
    assert XB.shape == (55_000 - 43_986, 28, 28)
    assert set(np.unique(yA)) == set(range(8))
    (XtA, _), (XtB, ytB) = reference.split_task_a_b(X_test, y_test)
    assert len(XtA) == 8000 and len(XtB) == 2000 and ytB.sum() == 1000   # 1,000 test images a class
    # The course's own split (data.py: first 55,000 for training) holds 43,970 task-A rows.
    (Xtr, ytr), _, _ = data.load_fashion_mnist()
    assert len(reference.split_task_a_b(Xtr, ytr)[0][0]) == 43_970


# --- build_model_b_on_a -----------------------------------------------------------------

def _model_a(seed=0, extra=False):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((6, 6)), L.Flatten(), L.Dense(12, activation="selu")]
    if extra:
        layers += [L.Dropout(0.2), L.BatchNormalization()]
    layers += [L.Dense(10, activation="selu"), L.Dense(8, activation="softmax")]
    model = keras.Sequential(layers)
    if extra:   # give BN non-trivial moving statistics, so that copying them is tested
        bn = model.layers[3]
        bn.moving_mean.assign(np.linspace(-1, 1, 12))
        bn.moving_variance.assign(np.linspace(0.5, 2, 12))
    return model


def _xy(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6, 6)).astype(np.float32), rng.integers(0, 2, n).astype(np.float32)


def test_build_model_b_on_a_has_one_sigmoid_output():
    model_b = kt.build_model_b_on_a(_model_a())
    assert model_b.output_shape == (None, 1)
    out = model_b.layers[-1]
    assert isinstance(out, L.Dense) and out.units == 1 and out.get_config()["activation"] == "sigmoid"
    assert len(model_b.layers) == len(_model_a().layers)


@pytest.mark.parametrize("extra", [False, True])
def test_build_model_b_on_a_copies_every_weight_of_a_but_the_output(extra):
    model_a = _model_a(extra=extra)
    model_b = kt.build_model_b_on_a(model_a)
    for la, lb in zip(model_a.layers[:-1], model_b.layers[:-1]):
        assert type(la) is type(lb)
        assert len(la.weights) == len(lb.weights)
        for va, vb in zip(la.weights, lb.weights):       # BN moving statistics included
            np.testing.assert_array_equal(va.numpy(), vb.numpy())


def _penultimate(model, X):
    h = X
    for layer in model.layers[:-1]:
        h = layer(h, training=False)
    return np.asarray(h)


def test_build_model_b_on_a_computes_a_s_features():
    """Oracle: A's own penultimate activations, layer by layer (BN in inference mode)."""
    model_a = _model_a(extra=True)
    model_b = kt.build_model_b_on_a(model_a)
    X, _ = _xy()
    np.testing.assert_allclose(_penultimate(model_b, X), _penultimate(model_a, X), rtol=1e-6)
    # and through B's own graph: the sigmoid of the new layer applied to those features
    w, b = model_b.layers[-1].get_weights()
    expected = 1 / (1 + np.exp(-(_penultimate(model_a, X) @ w + b)))
    np.testing.assert_allclose(np.asarray(model_b(X, training=False)), expected, rtol=1e-5, atol=1e-6)


def test_build_model_b_on_a_shares_no_layer_or_variable_with_a():
    model_a = _model_a(extra=True)
    model_b = kt.build_model_b_on_a(model_a)
    assert kt.shared_variables(model_a, model_b) == []
    assert not {id(layer) for layer in model_a.layers} & {id(layer) for layer in model_b.layers}


def test_naive_sequential_reuse_does_share_variables():
    """Control for the check above: it does detect the pitfall the notebook demonstrates."""
    model_a = _model_a()
    naive = keras.Sequential(model_a.layers[:-1] + [L.Dense(1, activation="sigmoid")])
    naive.build((None, 6, 6))
    assert len(kt.shared_variables(model_a, naive)) == 4


def test_build_model_b_on_a_freezes_exactly_the_reused_layers():
    model_a = _model_a(extra=True)
    model_b = kt.build_model_b_on_a(model_a)
    assert [layer.trainable for layer in model_b.layers] == [False] * (len(model_b.layers) - 1) + [True]
    assert [v.path for v in model_b.trainable_weights] == [v.path for v in model_b.layers[-1].weights]
    assert all(layer.trainable for layer in model_a.layers)   # A's flags untouched


def _fit(model, X, y, epochs=2, learning_rate=0.1):
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=learning_rate))
    model.fit(X, y, epochs=epochs, batch_size=8, verbose=0)


def test_training_b_on_a_leaves_a_and_the_frozen_layers_unchanged():
    model_a = _model_a(extra=True)
    before_a = [w.copy() for w in model_a.get_weights()]
    model_b = kt.build_model_b_on_a(model_a)
    before_b = [w.copy() for w in model_b.get_weights()]
    _fit(model_b, *_xy())
    for w0, w in zip(before_a, model_a.get_weights()):
        np.testing.assert_array_equal(w, w0)
    after_b = model_b.get_weights()
    for w0, w in zip(before_b[:-2], after_b[:-2]):       # frozen reused layers, BN stats too
        np.testing.assert_array_equal(w, w0)
    assert not np.array_equal(after_b[-2], before_b[-2])  # the new output layer did learn


def test_naive_sequential_reuse_changes_a_when_b_trains():
    model_a = _model_a()
    before = model_a.layers[1].kernel.numpy().copy()
    naive = keras.Sequential(model_a.layers[:-1] + [L.Dense(1, activation="sigmoid")])
    _fit(naive, *_xy())
    assert not np.array_equal(model_a.layers[1].kernel.numpy(), before)


# --- unfreeze_top -----------------------------------------------------------------------

def _trainable_weighted(model):
    return [layer.trainable for layer in kt.reused_layers_with_weights(model)]


def test_unfreeze_top_counts_only_layers_with_weights():
    model_b = kt.build_model_b_on_a(_model_a(extra=True))  # Flatten, Dense, Dropout, BN, Dense | out
    assert kt.unfreeze_top(model_b, 2) is model_b
    assert _trainable_weighted(model_b) == [False, True, True]       # Dense 12 frozen; BN, Dense 10
    assert model_b.layers[0].trainable is False and model_b.layers[2].trainable is False  # Flatten, Dropout


@pytest.mark.parametrize("n,expected", [(0, [False, False]), (1, [False, True]), (2, [True, True]),
                                        (5, [True, True])])
def test_unfreeze_top_n_layers(n, expected):
    model_b = kt.build_model_b_on_a(_model_a())
    kt.unfreeze_top(model_b, n)
    assert _trainable_weighted(model_b) == expected
    assert model_b.layers[-1].trainable


def test_unfreeze_top_rejects_negative_n():
    with pytest.raises(ValueError):
        kt.unfreeze_top(kt.build_model_b_on_a(_model_a()), -1)


def test_unfreeze_top_then_recompile_trains_only_the_unfrozen_layers():
    model_a = _model_a()
    model_b = kt.build_model_b_on_a(model_a)
    kt.unfreeze_top(model_b, 1)
    before = [layer.get_weights() for layer in model_b.layers]
    _fit(model_b, *_xy())
    changed = [any(not np.array_equal(w0, w) for w0, w in zip(b, layer.get_weights()))
               for b, layer in zip(before, model_b.layers)]
    assert changed == [False, False, True, True]                # Flatten, Dense 12, Dense 10, out
    for w0, w in zip(_model_a().get_weights(), model_a.get_weights()):
        np.testing.assert_array_equal(w, w0)                    # A still as built


def test_accuracy_helper_matches_keras_metrics():
    model = kt.build_model_b_on_a(_model_a())
    X, y = _xy(50)
    metric = keras.metrics.BinaryAccuracy()
    metric.update_state(y, model(X))
    assert kt.accuracy(model, X, y, batch_size=16) == pytest.approx(float(metric.result()), abs=1e-7)
    model_a = _model_a()
    ya = np.random.default_rng(3).integers(0, 8, 50)
    metric = keras.metrics.SparseCategoricalAccuracy()
    metric.update_state(ya, model_a(X))
    assert kt.accuracy(model_a, X, ya) == pytest.approx(float(metric.result()), abs=1e-7)


def test_binary_task_keeps_two_classes_in_order_with_a_float_target():
    import numpy as np
    from deeptrain import data
    y = np.array([2, 5, 0, 0, 9, 2], dtype=np.uint8)
    X = np.arange(6, dtype=np.float32).reshape(6, 1)
    XB, yB = data.binary_task(X, y, negative=0, positive=2)
    np.testing.assert_array_equal(XB[:, 0], [0, 2, 3, 5])
    np.testing.assert_array_equal(yB, [1, 0, 0, 1])
    assert yB.dtype == np.float32
    np.testing.assert_array_equal(y, [2, 5, 0, 0, 9, 2])
