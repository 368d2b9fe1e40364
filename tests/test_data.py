"""deeptrain.data: offline search order, clear errors, the standard split."""
import gzip
import struct

import numpy as np
import pytest

from deeptrain import data


def write_idx_set(folder, n_train, n_test, label):
    """Four gzipped IDX files in the real format; every label equals `label`."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.full((n, 28, 28), label, dtype=np.uint8)
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">HBBIII", 0, 8, 3, n, 28, 28) + images.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">HBBI", 0, 8, 1, n) + np.full(n, label, np.uint8).tobytes())
    return folder


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Three empty candidate places; the real Debian folder is hidden."""
    env, keras_home, debian = tmp_path / "env", tmp_path / "keras", tmp_path / "debian"
    monkeypatch.setenv("DEEPTRAIN_DATA", str(env))
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("DEEPTRAIN_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "DEBIAN_DIR", debian)
    return env, keras_home / "datasets" / "fashion-mnist", debian


def source_label():
    (X, y), _ = data.load_raw()
    return int(y[0])


def test_deeptrain_data_wins_over_keras_cache_and_debian(places):
    env, keras, debian = places
    write_idx_set(env, 6, 2, 1), write_idx_set(keras, 6, 2, 2), write_idx_set(debian, 6, 2, 3)
    assert source_label() == 1


def test_keras_cache_comes_before_debian(places):
    env, keras, debian = places
    write_idx_set(keras, 6, 2, 2), write_idx_set(debian, 6, 2, 3)
    assert source_label() == 2


def test_debian_package_is_the_last_offline_place(places):
    _, _, debian = places
    write_idx_set(debian, 6, 2, 3)
    assert source_label() == 3


def test_incomplete_folder_is_skipped(places):
    env, _, debian = places
    write_idx_set(env, 6, 2, 1)
    (env / "t10k-labels-idx1-ubyte.gz").unlink()
    write_idx_set(debian, 6, 2, 3)
    assert source_label() == 3


def test_nothing_found_raises_one_error_naming_the_three_ways(places):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_raw()
    msg = str(err.value)
    assert "DEEPTRAIN_DATA" in msg and ".keras/datasets/fashion-mnist" in msg and "dataset-fashion-mnist" in msg


def test_failed_download_raises_the_same_clear_error(places, monkeypatch):
    monkeypatch.delenv("DEEPTRAIN_NO_DOWNLOAD")
    from keras.datasets import fashion_mnist

    def offline():
        raise OSError("network unreachable")
    monkeypatch.setattr(fashion_mnist, "load_data", offline)
    with pytest.raises(data.DataNotFoundError, match="Keras download failed too.*network unreachable"):
        data.load_raw()


def test_truncated_file_raises_a_clear_error_naming_it(places):
    env, _, _ = places
    write_idx_set(env, 6, 2, 1)
    path = env / "train-images-idx3-ubyte.gz"
    raw = gzip.open(path).read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(data.CorruptDataError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load_raw()


def test_file_that_is_not_gzip_raises_a_clear_error(places):
    env, _, _ = places
    write_idx_set(env, 6, 2, 1)
    (env / "t10k-labels-idx1-ubyte.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(data.CorruptDataError, match="t10k-labels-idx1-ubyte.gz.*not a readable gzip"):
        data.load_raw()


def test_bad_magic_number_raises_a_clear_error(places):
    env, _, _ = places
    write_idx_set(env, 6, 2, 1)
    with gzip.open(env / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBBI", 0, 9, 1, 6) + bytes(6))
    with pytest.raises(data.CorruptDataError, match="bad IDX header"):
        data.load_raw()


def test_check_command_reports_missing_data(places, capsys):
    assert data.main(["--check"]) == 1
    assert "dataset-fashion-mnist" in capsys.readouterr().err


real = pytest.mark.skipif(data.find_data_dir() is None, reason="Fashion-MNIST is not installed")


@real
def test_real_data_standard_split_sizes_and_scale():
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = data.load_fashion_mnist()
    assert X_tr.shape == (55_000, 28, 28) and X_va.shape == (5_000, 28, 28) and X_te.shape == (10_000, 28, 28)
    assert y_tr.shape == (55_000,) and set(np.unique(y_tr)) == set(range(10))
    assert X_tr.dtype == np.float32 and X_tr.min() == 0.0 and X_tr.max() == 1.0


@real
def test_real_data_validation_is_the_last_5000_training_images():
    (X_full, y_full), _ = data.load_raw()
    _, (X_va, y_va), _ = data.load_fashion_mnist()
    np.testing.assert_array_equal(y_va, y_full[-5000:])
    np.testing.assert_allclose(X_va, X_full[-5000:] / 255.0, rtol=1e-6)


@real
def test_real_data_subsets_are_seeded_and_flatten_works():
    a = data.load_fashion_mnist(n_train=300, n_valid=50, n_test=40, seed=3, flatten=True)
    b = data.load_fashion_mnist(n_train=300, n_valid=50, n_test=40, seed=3, flatten=True)
    c = data.load_fashion_mnist(n_train=300, n_valid=50, n_test=40, seed=4, flatten=True)
    assert a[0][0].shape == (300, 784) and a[1][0].shape == (50, 784) and a[2][0].shape == (40, 784)
    np.testing.assert_array_equal(a[0][1], b[0][1])
    assert not np.array_equal(a[0][0], c[0][0])


@real
def test_subset_size_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="between 1 and 55000"):
        data.load_fashion_mnist(n_train=60_000)
