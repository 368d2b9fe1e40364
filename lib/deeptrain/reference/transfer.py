"""Transfer learning (module 06): the task A / task B split of Fashion-MNIST, in NumPy.

The seeds' experiment pretends that Fashion-MNIST has only 8 classes: task A is to classify
the images of the 8 classes other than sandal (5) and shirt (6); task B is a binary
classifier, shirt (1) versus sandal (0), with very few labelled images. A model trained
on task A is then reused for task B.

Building and freezing Keras models is TensorFlow work: see ``deeptrain.kernels.transfer``
for ``build_model_b_on_a`` and ``unfreeze_top``. Nothing here imports TensorFlow.
"""
import numpy as np

__all__ = ["split_task_a_b"]

SANDAL = 5   # Fashion-MNIST class indices of the two classes task B is about
SHIRT = 6


def split_task_a_b(X, y):
    """Split a Fashion-MNIST sample into task A (8 classes) and task B (shirt vs sandal).

    X: array of shape (n, ...) (images (n, 28, 28) or flattened (n, 784)).
    y: integer class indices 0..9 of shape (n,).

    Returns ``((X_A, y_A), (X_B, y_B))``:
    - task A: the rows whose class is neither sandal (5) nor shirt (6); the 8 remaining
      classes are relabelled 0..7: classes 0..4 keep their index, classes 7, 8, 9 become
      5, 6, 7 (y_A = y - 2 where y > 6). y_A has y's integer dtype, shape (n_A,).
    - task B: the rows whose class is sandal or shirt; y_B = 1.0 for a shirt and 0.0 for a
      sandal, float32 of shape (n_B,) (the binary cross-entropy target of a sigmoid output).
    Rows keep their original order in both parts, and n_A + n_B = n. X and y are not
    modified (the results are new arrays).

    Example (the seeds' worked example): on the book's 55,000-image training split
    (the last 55,000 of the 60,000 training images) X_A has 43,986 rows.
    """
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"y must have shape (n,) with n = len(X); got X {X.shape}, y {y.shape}")
    in_b = (y == SANDAL) | (y == SHIRT)
    y_a = y[~in_b].copy()                  # boolean indexing copies; .copy() makes it explicit
    y_a[y_a > SHIRT] -= 2                  # 7, 8, 9 -> 5, 6, 7
    y_b = (y[in_b] == SHIRT).astype(np.float32)
    return (X[~in_b], y_a), (X[in_b], y_b)
