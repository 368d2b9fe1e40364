"""Plots the notebooks share. Each function draws on a Matplotlib Axes and returns it."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

__all__ = ["new_axes", "plot_layer_curves", "plot_learning_curves", "show_images"]


def new_axes(ax=None, figsize=(6.4, 4.0)):
    """The given Axes, or a fresh one on a new figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_layer_curves(curves, ylabel, title=None, logy=True, ax=None, xlabel="layer", marker="o"):
    """One line per configuration of a per-layer quantity (variance, gradient norm, ...).

    curves: dict label -> 1-D array of length n_layers (layer 1 first).
    """
    ax = new_axes(ax)
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, marker=marker, ms=3, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_learning_curves(histories, metric="loss", ax=None, title=None):
    """Training (solid) and validation (dashed) curves of one metric for several runs.

    histories: dict label -> Keras History or its ``.history`` dict.
    """
    ax = new_axes(ax)
    for i, (label, h) in enumerate(histories.items()):
        h = getattr(h, "history", h)
        color = f"C{i}"
        ax.plot(np.arange(1, len(h[metric]) + 1), h[metric], color=color, label=f"{label} (train)")
        if f"val_{metric}" in h:
            ax.plot(np.arange(1, len(h[f"val_{metric}"]) + 1), h[f"val_{metric}"], "--",
                    color=color, label=f"{label} (valid)")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def show_images(X, labels=None, n_cols=8, class_names=None, figsize_per=1.2):
    """A grid of 28x28 images with optional labels underneath. Returns the figure."""
    X = np.asarray(X)
    n = len(X)
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * figsize_per, n_rows * figsize_per * 1.2))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(X[i].reshape(28, 28), cmap="binary")
            if labels is not None:
                lab = labels[i]
                ax.set_title(class_names[lab] if class_names is not None else str(lab), fontsize=8)
    return fig
