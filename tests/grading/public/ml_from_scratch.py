"""ML-From-Scratch (Erik Linder-Noren), activation functions as classes with a `function` and a `gradient` method:
https://github.com/eriklindernoren/ML-From-Scratch/blob/master/mlfromscratch/deep_learning/activation_functions.py

The issue's false delegation: a real public LeakyReLU class whose own method is called `gradient` was zeroed
("uses gradient"). Written here as a student would wire those classes to the exercise's functions. Known faults
for our contract (none is delegation): the inputs' dtype kept (float32 in, float32 out); the derivative at z = 0
taken from the right branch (x >= 0 -> 1, the docstring says alpha); the naive sigmoid 1 / (1 + exp(-x))
(overflows for x << 0: the tail values are 0); ELU as alpha * (exp(x) - 1) (loses digits near 0).
"""
import numpy as np


class Sigmoid:
    def function(self, x):
        return 1 / (1 + np.exp(-x))

    def gradient(self, x):
        return self.function(x) * (1 - self.function(x))


class LeakyReLU:
    def __init__(self, alpha=0.2):
        self.alpha = alpha

    def function(self, x):
        return np.where(x >= 0, x, self.alpha * x)

    def gradient(self, x):
        return np.where(x >= 0, 1, self.alpha)


class ELU:
    def __init__(self, alpha=0.1):
        self.alpha = alpha

    def function(self, x):
        return np.where(x >= 0.0, x, self.alpha * (np.exp(x) - 1))

    def gradient(self, x):
        return np.where(x >= 0.0, 1, self.function(x) + self.alpha)


def sigmoid(z):
    with np.errstate(over="ignore"):               # silenced: the tail values still tell
        return Sigmoid().function(np.asarray(z))


def leaky_relu(z, alpha=0.2):
    return LeakyReLU(alpha).function(np.asarray(z))


def leaky_relu_grad(z, alpha=0.2):
    return LeakyReLU(alpha).gradient(np.asarray(z))


def elu(z, alpha=1.0):
    with np.errstate(over="ignore"):
        return ELU(alpha).function(np.asarray(z))


def elu_grad(z, alpha=1.0):
    with np.errstate(over="ignore", invalid="ignore"):
        return ELU(alpha).gradient(np.asarray(z, np.float64))


PUBLIC = [
    ("01.sigmoid", "sigmoid", sigmoid, ("overflow", "dtype"), "overflowed"),
    ("03.leaky_relu", "leaky_relu", leaky_relu, ("float64",), "float64"),
    ("03.leaky_relu", "leaky_relu_grad", leaky_relu_grad, ("at_zero",), "z = 0 is alpha"),
    ("03.elu_selu", "elu", elu, ("near_zero", "float64"), "precision near 0"),
    ("03.elu_selu", "elu_grad", elu_grad, ("at_zero",), "z = 0 is alpha"),
]
