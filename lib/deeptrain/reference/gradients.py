"""Vanishing and exploding gradients (module 01): NumPy references.

Everything here is float64 NumPy; nothing imports TensorFlow.
"""
import numpy as np

__all__ = ["sigmoid", "sigmoid_derivative", "forward_variances", "layer_gradient_norms",
           "ACTIVATIONS"]


def sigmoid(z):
    """The logistic function sigma(z) = 1 / (1 + exp(-z)), elementwise.

    z: array of any shape (or a scalar). Returns float64 of the same shape.
    Stable for any finite z: exp is only ever taken of a non-positive number, so
    |z| = 1e4 neither overflows nor warns.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))                       # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(z):
    """sigma'(z) = sigma(z) * (1 - sigma(z)), elementwise; at most 0.25 (at z = 0).

    Computed as sigma(z) * sigma(-z), which equals the above but keeps full relative
    precision in both tails (1 - sigma(z) cancels to 0 for z > ~37).
    """
    z = np.asarray(z, dtype=np.float64)
    return sigmoid(z) * sigmoid(-z)


def _relu(z):
    return np.maximum(z, 0.0)


ACTIVATIONS = {
    "linear": lambda z: z,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": _relu,
}


def forward_variances(n_layers, fan_in, weight_std, activation="sigmoid", n_samples=1000, seed=0):
    """Variance of each layer's activations in a random dense stack (no biases).

    The stack: inputs X ~ N(0, 1) of shape (n_samples, fan_in); then n_layers times
    a <- activation(a @ W) with W ~ N(0, weight_std**2) of shape (fan_in, fan_in).
    Random draws, in this order, from ``rng = np.random.default_rng(seed)``:
    ``X = rng.standard_normal((n_samples, fan_in))``, then for each layer
    ``W = rng.standard_normal((fan_in, fan_in)) * weight_std``.

    activation: "linear", "sigmoid", "tanh", "relu" or a callable on arrays.
    Returns float64 of shape (n_layers,): entry l is ``np.var`` of all activations of
    layer l + 1 (population variance over every sample and unit).
    """
    if n_layers < 1 or fan_in < 1 or n_samples < 2:
        raise ValueError("n_layers and fan_in must be >= 1 and n_samples >= 2")
    act = ACTIVATIONS[activation] if isinstance(activation, str) else activation
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_samples, fan_in))
    variances = np.empty(n_layers)
    for layer in range(n_layers):
        W = rng.standard_normal((fan_in, fan_in)) * weight_std
        a = act(a @ W)
        variances[layer] = np.var(a)
    return variances


# --- layer_gradient_norms: backpropagation by hand through a Keras-like dense stack ---

def _activation_name(layer):
    act = layer.get_config().get("activation", "linear")
    if isinstance(act, dict):  # serialised object form
        act = act.get("config", {}).get("name", act.get("class_name", "linear"))
    return str(act).lower()


def _forward_backward_grad(name, z, a, grad_a):
    """dL/dz from dL/da for a = act(z) (softmax handled by the caller)."""
    if name == "linear":
        return grad_a
    if name == "sigmoid":
        return grad_a * a * (1.0 - a)
    if name == "tanh":
        return grad_a * (1.0 - a**2)
    if name == "relu":
        return grad_a * (z > 0)
    raise ValueError(f"reference layer_gradient_norms does not support activation {name!r}")


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def layer_gradient_norms(model, X, y, loss_fn):
    """L2 norm of the gradient of the loss with respect to each Dense kernel, input to output.

    model: a Keras model whose layers are Flatten/Input/Dense only (the Dense layers with
        activation linear, sigmoid, tanh, relu, or softmax on the last layer).
    X: inputs of shape (n, ...) (flattened to (n, features)). y: targets, (n,) class indices
        for sparse categorical crossentropy, (n,) or (n, 1) for binary crossentropy or MSE.
    loss_fn: a Keras loss object (MeanSquaredError, BinaryCrossentropy or
        SparseCategoricalCrossentropy, from_logits False or True), mean-reduced over the batch.
    Returns float64 of shape (n_dense_layers,).

    Backpropagation written out in NumPy (float64), independently of TensorFlow's autodiff.
    """
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    a = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    n = a.shape[0]
    cache = []
    for layer in dense:
        weights = layer.get_weights()
        W = np.asarray(weights[0], dtype=np.float64)
        b = np.asarray(weights[1], dtype=np.float64) if len(weights) > 1 else np.zeros(W.shape[1])
        z = a @ W + b
        name = _activation_name(layer)
        out = _softmax(z) if name == "softmax" else ACTIVATIONS[name](z) if name in ACTIVATIONS else None
        if out is None:
            raise ValueError(f"reference layer_gradient_norms does not support activation {name!r}")
        cache.append((a, W, z, out, name))
        a = out

    loss_name = type(loss_fn).__name__
    from_logits = bool(getattr(loss_fn, "from_logits", False) or
                       loss_fn.get_config().get("from_logits", False))
    _, _, z_last, out, last_name = cache[-1]
    y = np.asarray(y)
    if loss_name == "SparseCategoricalCrossentropy":
        onehot = np.eye(out.shape[1])[y.reshape(-1).astype(int)]
        if from_logits and last_name == "linear":
            grad_z = (_softmax(z_last) - onehot) / n
        elif last_name == "softmax" and not from_logits:
            grad_z = (out - onehot) / n
        else:
            raise ValueError("sparse crossentropy needs a softmax output (or logits with from_logits=True)")
    elif loss_name == "BinaryCrossentropy":
        t = y.reshape(out.shape).astype(np.float64)
        if from_logits and last_name == "linear":
            grad_z = (sigmoid(z_last) - t) / out.size
        elif last_name == "sigmoid" and not from_logits:
            grad_z = (out - t) / out.size
        else:
            raise ValueError("binary crossentropy needs a sigmoid output (or logits with from_logits=True)")
    elif loss_name == "MeanSquaredError":
        t = y.reshape(out.shape).astype(np.float64)
        grad_a = 2.0 * (out - t) / out.size
        grad_z = _forward_backward_grad(last_name, z_last, out, grad_a)
    else:
        raise ValueError(f"reference layer_gradient_norms does not support loss {loss_name}")

    norms = np.empty(len(dense))
    for i in range(len(dense) - 1, -1, -1):
        a_in, W, z, out, name = cache[i]
        if i != len(dense) - 1:
            grad_z = _forward_backward_grad(name, z, out, grad_a)
        norms[i] = np.linalg.norm(a_in.T @ grad_z)   # dL/dW = a_in^T dL/dz
        grad_a = grad_z @ W.T
    return norms
