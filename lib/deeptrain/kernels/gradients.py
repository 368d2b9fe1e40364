"""Vanishing and exploding gradients (module 01): TensorFlow kernels."""
import numpy as np
import tensorflow as tf

__all__ = ["layer_gradient_norms", "kernel_variables"]


def kernel_variables(model):
    """The kernels (weight matrices) of a model's layers, input to output.

    Biases, BN parameters and other variables are left out: the per-layer gradient norm
    the course plots is the norm of dL/dW for each layer that has a kernel.
    """
    return [layer.kernel for layer in model.layers if getattr(layer, "kernel", None) is not None]


def layer_gradient_norms(model, X, y, loss_fn, training=True):
    """Per-layer L2 norm of the kernel gradients of ``loss_fn(y, model(X))``, input to output.

    X: array or tensor of shape (batch, ...). y: targets accepted by ``loss_fn``.
    Returns a NumPy float64 array of shape (n_layers_with_kernel,).
    ``training=True`` runs dropout and batch norm in training mode, as ``fit`` would.
    """
    kernels = kernel_variables(model)
    if not kernels:
        raise ValueError("the model has no layer with a kernel (is it built?)")
    X = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(X, training=training))
    grads = tape.gradient(loss, kernels)
    return np.array([0.0 if g is None else float(tf.norm(g)) for g in grads], dtype=np.float64)
