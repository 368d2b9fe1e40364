"""The capstone's replay in the clean room (autograder/room.py ``replay``, cleanroom.replay, m09.run_replay).

The grader trains a recipe in a child of the TensorFlow room's server: TensorFlow is imported once
per worker, and the child has run none of the student's code. What must hold: the room's runs are the
runs ``capstone_recipe.replay`` trains in the grader's own process, to the last digit, and nothing a
submission's answer cells did in the same room before the replay reaches it: a daemon left running,
poisoned Fashion-MNIST files where the room's Keras cache is (``$KERAS_HOME``, before the Debian folder
in deeptrain.data's search) and in the room's home, files in every writable folder; with the sandbox's
isolation (PID namespace) and without it (``DEEPTRAIN_ROOM_ISOLATION=0``, where no process is killed
and no folder but the room's own is wiped).
"""
import json

import pytest

from autograder import cleanroom
from autograder.verdicts import m09
from deeptrain import capstone, capstone_recipe as R

from test_cleanroom import room, submission

pytestmark = pytest.mark.slow
M09 = "09_capstone"


def short(X_train, y_train, X_valid, y_valid, budget):
    """Keras' defaults on the fixed network, one epoch: a cheap recipe whose runs differ by seed."""
    from deeptrain.capstone_recipe import keras
    k = keras()
    layers = [k.Input((28, 28)), k.layers.Flatten()]
    layers += [k.layers.Dense(R.WIDTH, activation="relu") for _ in range(R.DEPTH)]
    model = k.Sequential(layers + [k.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return budget.fit(model, X_train, y_train, batch_size=256, epochs=1)


@pytest.fixture(scope="module")
def text():
    return json.dumps(capstone.record(short))


@pytest.fixture(scope="module")
def here(text):
    """The runs trained in this process, as the grader's own replay did before the room."""
    from autograder.capstone_replay import prepare
    splits = prepare(0)
    return R.replay(json.loads(text), *[a for split in splits for a in split], seeds=R.grading_seeds(0))


# A capstone submission whose answer cell, run in the room before the replay, leaves what it can:
# Fashion-MNIST files with every test label 0 where the room's Keras folder and home are, a file in
# every writable folder, and a daemon (out of its own session) that writes them again every 20 ms while
# the room's server lives.
POISON = r'''
import gzip as _gz, os as _os, shutil as _sh, struct as _st, time as _t
def _poison():
    src = next(d for d in ("/usr/share/datasets/fashion-mnist", _os.environ.get("DEEPTRAIN_DATA") or "/nonexistent")
               if _os.path.isfile(_os.path.join(d, "t10k-labels-idx1-ubyte.gz")))
    for home in (_os.environ.get("KERAS_HOME", ""), _os.path.expanduser("~/.keras"), "/tmp/.keras"):
        if not home:
            continue
        d = _os.path.join(home, "datasets", "fashion-mnist")
        try:
            _os.makedirs(d, exist_ok=True)
            for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
                if not _os.path.exists(_os.path.join(d, f)):
                    _sh.copy(_os.path.join(src, f), d)
            with _gz.open(_os.path.join(d, "t10k-labels-idx1-ubyte.gz"), "wb") as g:
                g.write(_st.pack(">II", 0x801, 10000) + bytes(10000))
        except OSError:
            pass
    for w in ("/tmp", "/var/tmp", "/dev/shm", "."):
        try:
            open(_os.path.join(w, "left-by-the-student"), "w").write("x")
        except OSError:
            pass
_poison()
_server = _os.getppid()           # the room's server: the daemon stops when it is gone (the test's end)
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _end = _t.time() + 90
        while _t.time() < _end:
            try:
                _os.kill(_server, 0)
            except OSError:
                break
            _poison()
            _t.sleep(0.02)
    _os._exit(0)
'''


@pytest.mark.parametrize("isolation", ["1", "0"])
def test_what_the_answer_cells_leave_in_the_room_does_not_reach_the_replay(text, here, isolation, monkeypatch):
    monkeypatch.setenv("DEEPTRAIN_ROOM_ISOLATION", isolation)
    cleanroom.shutdown()
    try:
        res, _, problems = room(submission(M09, "build_and_train", POISON), M09, secret=None, kinds=("tensorflow",))
        assert not problems and "09.capstone" in res, (problems, res)
        assert cleanroom.server("tensorflow").ready["isolated"] == (isolation == "1")
        report = m09.run_replay(text)      # through the room: the runs replay() trains here, to the last digit
        assert "error" not in report, report
        assert report["accuracies"] == here["accuracies"] and report["seeds"] == here["seeds"], (report, here)
        assert report["steps"] == here["steps"] == -(-R.N_TRAIN // 256)
        assert len(set(report["accuracies"])) > 1, report      # the seeds do change the runs
    finally:
        cleanroom.shutdown()
