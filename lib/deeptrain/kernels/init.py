"""Weight initialization (module 02): the Keras side.

The initializers themselves are Keras built-ins (VarianceScaling and its named subclasses);
what lives here is the textbook's use of them, the reference of the ``he_avg_dense`` exercise.
No benchmark: nothing here computes anything Keras does not already do.
"""
import tensorflow as tf

__all__ = ["HE_AVG_CONFIG", "he_avg_initializer", "he_avg_dense"]

# He's scale 2 (for ReLU-like activations) with Glorot's fan_avg, uniform: the textbook's
# he_avg_init. Its weights have variance 2 / fan_avg, limit sqrt(6 / fan_avg).
HE_AVG_CONFIG = {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}


def he_avg_initializer(seed=None):
    """keras.initializers.VarianceScaling(scale=2, mode="fan_avg", distribution="uniform")."""
    return tf.keras.initializers.VarianceScaling(seed=seed, **HE_AVG_CONFIG)


def he_avg_dense(units, activation=None):
    """A Keras Dense(units, activation) whose kernel is drawn by he_avg_initializer().

    units: positive int. activation: anything Dense accepts (None, "relu", a callable).
    The kernel of shape (fan_in, units) gets variance 2 / fan_avg, fan_avg = (fan_in + units) / 2,
    from U(-r, r) with r = sqrt(6 / fan_avg); the bias keeps Keras' default (zeros).
    """
    return tf.keras.layers.Dense(units, activation=activation, kernel_initializer=he_avg_initializer())
