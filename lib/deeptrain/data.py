"""Fashion-MNIST, found offline first.

Search order (the first folder that holds all four files wins):

1. ``$DEEPTRAIN_DATA`` (a folder with the four ``*-idx?-ubyte.gz`` files),
2. the Keras cache: ``$KERAS_HOME/datasets/fashion-mnist`` or ``~/.keras/datasets/fashion-mnist``,
3. the Debian package ``dataset-fashion-mnist``: ``/usr/share/datasets/fashion-mnist``,
4. only then a download through Keras (``keras.datasets.fashion_mnist``), with a timeout.

When nothing works, :class:`DataNotFoundError` names the three offline ways.

Standard split (the course design's): the first 55,000 training images for training, the
last 5,000 for validation, the 10,000 test images for testing; pixels scaled to [0, 1]
float32. (The textbook behind the seeds validates on the FIRST 5,000 instead, which is why
its task-A split has 43,986 rows and ours 43,970; module 06 says so.)

Run ``python -m deeptrain.data --check`` to see where the data is found, and
``python -m deeptrain.data --fetch`` (what ``make lab`` and ``make test`` run) to get it when
it is missing: the Debian package when this user may install packages (root, or sudo without
a password), else the Keras download, else the clear error.
"""
import argparse
import gzip
import os
import socket
import shutil
import struct
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
N_VALID = 5_000
DOWNLOAD_TIMEOUT_S = 15

_HOW_TO = (
    "Fashion-MNIST was not found. Provide it in one of these ways:\n"
    "  1. set DEEPTRAIN_DATA to a folder holding the four files "
    + ", ".join(FILES.values()) + ";\n"
    "  2. put those files in the Keras cache, $KERAS_HOME/datasets/fashion-mnist "
    "(default ~/.keras/datasets/fashion-mnist);\n"
    "  3. install the Debian package: sudo apt-get install dataset-fashion-mnist "
    "(files in /usr/share/datasets/fashion-mnist).\n"
)


class DataNotFoundError(FileNotFoundError):
    """No copy of Fashion-MNIST could be found or downloaded."""


class CorruptDataError(ValueError):
    """A Fashion-MNIST file exists but is not a valid IDX file."""


def candidate_dirs():
    """The offline folders searched, in order, as (label, Path) pairs."""
    dirs = []
    if os.environ.get("DEEPTRAIN_DATA"):
        dirs.append(("$DEEPTRAIN_DATA", Path(os.environ["DEEPTRAIN_DATA"]).expanduser()))
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    dirs.append(("Keras cache", keras_home / "datasets" / "fashion-mnist"))
    dirs.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    return dirs


def find_data_dir():
    """The first folder that holds all four files, or None. Returns (label, Path) or None."""
    for label, folder in candidate_dirs():
        if all((folder / name).is_file() for name in FILES.values()):
            return label, folder
    return None


def read_idx(path):
    """Read one gzipped IDX file (the MNIST format) into a uint8 array.

    Images: magic 0x00000803, shape (n, 28, 28). Labels: magic 0x00000801, shape (n,).
    Raises CorruptDataError with the file name when the file is not valid.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise CorruptDataError(f"{path}: not a readable gzip file ({e}). "
                               "Delete it and provide a fresh copy.") from None
    if len(raw) < 4:
        raise CorruptDataError(f"{path}: too short to be an IDX file ({len(raw)} bytes).")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise CorruptDataError(f"{path}: bad IDX header {raw[:4].hex()} "
                               "(expected 00000801 for labels or 00000803 for images).")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise CorruptDataError(f"{path}: truncated IDX header.")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header_len])
    expected = int(np.prod(shape))
    if len(raw) - header_len != expected:
        raise CorruptDataError(f"{path}: header says shape {shape} ({expected} bytes of data) "
                               f"but the file holds {len(raw) - header_len}; it is truncated or corrupt.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape)


def _read_folder(folder):
    arrays = {key: read_idx(Path(folder) / name) for key, name in FILES.items()}
    for part in ("train", "test"):
        n_img, n_lab = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
        if n_img != n_lab:
            raise CorruptDataError(f"{folder}: {n_img} {part} images but {n_lab} labels.")
    return ((arrays["train_images"], arrays["train_labels"]),
            (arrays["test_images"], arrays["test_labels"]))


def _download():
    """Last resort: Keras' downloader, bounded by a socket timeout so it never hangs."""
    if os.environ.get("DEEPTRAIN_NO_DOWNLOAD"):
        raise DataNotFoundError(_HOW_TO + "(Download disabled by DEEPTRAIN_NO_DOWNLOAD.)")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        from ._setup import import_tensorflow
        import_tensorflow()   # Keras loads TensorFlow: load it with its native chatter silenced
        from keras.datasets import fashion_mnist
        return fashion_mnist.load_data()
    except Exception as e:  # any network or file failure ends in the same clear message
        raise DataNotFoundError(_HOW_TO + f"(The Keras download failed too: {type(e).__name__}: {e})") from None
    finally:
        socket.setdefaulttimeout(old)


@lru_cache(maxsize=4)
def _read_folder_cached(folder, stamp):
    return _read_folder(folder)


def load_raw():
    """((X_train_full, y_train_full), (X_test, y_test)) as uint8, from the first source found.

    Parsed once per folder and file version (the cache key includes the files' mtimes).
    """
    found = find_data_dir()
    if found is not None:
        folder = found[1]
        stamp = tuple((folder / name).stat().st_mtime_ns for name in FILES.values())
        return _read_folder_cached(str(folder), stamp)
    return _download()


def load_fashion_mnist(n_train=None, n_valid=None, n_test=None, seed=0, flatten=False):
    """Fashion-MNIST in the standard split, scaled to [0, 1].

    Returns ``((X_train, y_train), (X_valid, y_valid), (X_test, y_test))`` with X float32 of
    shape (n, 28, 28) (or (n, 784) when ``flatten``) and y uint8 class indices of shape (n,).
    Sizes: 55,000 / 5,000 / 10,000. ``n_train``, ``n_valid``, ``n_test`` take a seeded random
    subset of that size from each part (the same seed gives the same subset), so that
    demos run in seconds. The arrays are copies: changing them does not change the cache.
    """
    (X_full, y_full), (X_test, y_test) = load_raw()
    X_train, y_train = X_full[:-N_VALID], y_full[:-N_VALID]
    X_valid, y_valid = X_full[-N_VALID:], y_full[-N_VALID:]
    rng = np.random.default_rng(seed)
    parts = []
    for X, y, n in ((X_train, y_train, n_train), (X_valid, y_valid, n_valid), (X_test, y_test, n_test)):
        if n is not None:
            if not 0 < n <= len(X):
                raise ValueError(f"subset size {n} must be between 1 and {len(X)}")
            idx = np.sort(rng.choice(len(X), size=n, replace=False))
            X, y = X[idx], y[idx]
        X = X.astype(np.float32) / 255.0
        if flatten:
            X = X.reshape(len(X), -1)
        parts.append((X, y.copy()))
    return tuple(parts)


def subset(X, y, n, seed=0):
    """A seeded random subset of n rows of (X, y), in the original order."""
    if not 0 < n <= len(X):
        raise ValueError(f"subset size {n} must be between 1 and {len(X)}")
    idx = np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))
    return X[idx], y[idx]


def binary_task(X, y, negative, positive):
    """The rows of two classes as a binary task: (X_B, y_B) with y_B float32, 1.0 for `positive`.

    Module 06's second transfer task, the 3rd edition's T-shirt/top (0) against pullover (2):
    ``binary_task(X, y, negative=0, positive=2)``. Rows keep their order; X and y are not changed.
    """
    if negative == positive:
        raise ValueError("negative and positive must be two different classes")
    keep = (y == negative) | (y == positive)
    return X[keep], (y[keep] == positive).astype(np.float32)


DEBIAN_PACKAGE = "dataset-fashion-mnist"


def _apt_prefix():
    """The command prefix that installs Debian packages without asking, or None.

    Root runs apt-get directly; another user only through sudo that needs no password
    (``sudo -n true`` succeeds), so that ``make`` never stops at a password prompt.
    """
    if not shutil.which("apt-get"):
        return None
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def _install_debian_package(log):
    """Install dataset-fashion-mnist with apt-get; True when its files are then present."""
    prefix = _apt_prefix()
    if prefix is None:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"Fashion-MNIST is missing: installing the Debian package {DEBIAN_PACKAGE} ...")
    for cmd in (["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE],
                ["apt-get", "update", "-q"],          # the package list may be empty on a new image
                ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE]):
        subprocess.run(prefix + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if cmd[1] == "install" and all((DEBIAN_DIR / name).is_file() for name in FILES.values()):
            return True
    return False


def fetch(log=print):
    """Make sure Fashion-MNIST is available; returns the folder it is in.

    Tries, in order: the folders of the search order; the Debian package (root or
    password-less sudo only); the Keras download into its cache. Raises DataNotFoundError
    with the three offline ways when all of them fail.
    """
    found = find_data_dir()
    if found is None and _install_debian_package(log):
        found = find_data_dir()
    if found is None:
        log("Fashion-MNIST is missing: trying the Keras download ...")
        _download()   # raises DataNotFoundError when it fails
        found = find_data_dir()
        if found is None:
            raise DataNotFoundError(_HOW_TO + "(The Keras download left no files in the Keras cache.)")
    return found[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Locate Fashion-MNIST for the course.")
    parser.add_argument("--check", action="store_true", help="check that the data is present and readable")
    parser.add_argument("--fetch", action="store_true",
                        help="when missing, install the Debian package (root or password-less sudo) "
                             "or download it through Keras; then check it")
    args = parser.parse_args(argv)
    if args.fetch:
        try:
            fetch(log=lambda msg: print(msg, flush=True))
        except DataNotFoundError as e:
            print(e, file=sys.stderr)
            return 1
        args.check = True
    found = find_data_dir()
    if found is None:
        print(_HOW_TO, file=sys.stderr)
        return 1
    label, folder = found
    if args.check:
        try:
            (X, y), (Xt, yt) = _read_folder(folder)
        except CorruptDataError as e:
            print(f"Fashion-MNIST in {folder} is damaged: {e}", file=sys.stderr)
            return 1
        print(f"Fashion-MNIST: {len(X)} training and {len(Xt)} test images in {folder} ({label}).")
    else:
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
