"""The eight update rules of module 07 as Keras 3 ``Optimizer`` subclasses.

Each class overrides ``build`` (create the slot variables) and ``update_step`` (one update of
one variable, written with ``self.assign`` / ``self.assign_add`` / ``self.assign_sub``, so that
it runs inside ``fit``'s compiled train function, XLA included). Hyperparameters have the
names and defaults of the Keras optimizer of the same rule, and the arithmetic is that of
``deeptrain.reference.optimizers``, so a trajectory matches both the reference and Keras' own
optimizer (tests/lib/test_optimizers.py). Weight decay (``weight_decay=...``), clipping, EMA
and gradient accumulation come from Keras' base class, as for the built-ins.

    model.compile(optimizer=deeptrain.kernels.optimizers.Adam(learning_rate=1e-3), ...)

Speed: bench/bench_optimizers.py measures each against its Keras built-in (BENCHMARKS.md).
"""
import keras
from keras import ops

__all__ = ["Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AdaMax", "Nadam", "AdamW"]


class _Optimizer(keras.optimizers.Optimizer):
    """Shared plumbing: hyperparameters stored as attributes and listed in get_config; the
    zero-initialised slot variables named in ``_SLOTS`` created by ``build`` as ``self._<slot>``
    (one per model variable)."""

    _HYPER = ()
    _SLOTS = ()

    def __init__(self, learning_rate, name, hyper, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for key, value in hyper.items():
            setattr(self, key, value)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for slot in self._SLOTS:
            setattr(self, f"_{slot}", self.add_optimizer_variables(var_list, slot))

    def _cast(self, value, variable):
        # Python float -> tensor of the variable's dtype in one step (ops.cast(0.9, "float64")
        # would go through float32 first).
        return ops.convert_to_tensor(value, dtype=variable.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({key: getattr(self, key) for key in self._HYPER})
        return config


class Momentum(_Optimizer):
    """Momentum (equation 11-4), as ``keras.optimizers.SGD(momentum=...)``:
    m <- momentum * m - lr * g; theta <- theta + m."""

    _HYPER = ("momentum",)
    _SLOTS = ("m",)

    def __init__(self, learning_rate=0.01, momentum=0.0, name="momentum", **kwargs):
        super().__init__(learning_rate, name, dict(momentum=momentum), **kwargs)


    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        m = self._m[self._get_variable_index(variable)]
        self.assign(m, self._cast(self.momentum, variable) * m - lr * g)
        self.assign_add(variable, m)


class Nesterov(Momentum):
    """Nesterov accelerated gradient (equation 11-5) in Keras' look-ahead form, as
    ``keras.optimizers.SGD(momentum=..., nesterov=True)``:
    m <- momentum * m - lr * g; theta <- theta + momentum * m - lr * g."""

    def __init__(self, learning_rate=0.01, momentum=0.0, name="nesterov", **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        beta = self._cast(self.momentum, variable)
        m = self._m[self._get_variable_index(variable)]
        self.assign(m, beta * m - lr * g)
        self.assign_add(variable, beta * m - lr * g)


class AdaGrad(_Optimizer):
    """AdaGrad (equation 11-6), as ``keras.optimizers.Adagrad``: s starts at
    initial_accumulator_value; s <- s + g^2; theta <- theta - lr * g / sqrt(s + epsilon)."""

    _HYPER = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name="adagrad", **kwargs):
        super().__init__(learning_rate, name, dict(initial_accumulator_value=initial_accumulator_value,
                                                   epsilon=epsilon), **kwargs)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._s = self.add_optimizer_variables(
            var_list, "s", initializer=keras.initializers.Constant(self.initial_accumulator_value))

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        s = self._s[self._get_variable_index(variable)]
        self.assign_add(s, g * g)
        self.assign_sub(variable, lr * g / ops.sqrt(s + self._cast(self.epsilon, variable)))


class RMSProp(_Optimizer):
    """RMSProp (equation 11-7), as ``keras.optimizers.RMSprop`` (no momentum, not centered):
    s <- rho * s + (1 - rho) * g^2; theta <- theta - lr * g / sqrt(s + epsilon)."""

    _HYPER = ("rho", "epsilon")
    _SLOTS = ("s",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, name="rmsprop", **kwargs):
        super().__init__(learning_rate, name, dict(rho=rho, epsilon=epsilon), **kwargs)


    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        rho = self._cast(self.rho, variable)
        s = self._s[self._get_variable_index(variable)]
        self.assign(s, rho * s + (1 - rho) * g * g)
        self.assign_sub(variable, lr * g / ops.sqrt(s + self._cast(self.epsilon, variable)))


class Adam(_Optimizer):
    """Adam (equation 11-8) in Keras' form, as ``keras.optimizers.Adam`` (no amsgrad):
    m <- b1 m + (1 - b1) g; s <- b2 s + (1 - b2) g^2;
    theta <- theta - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(s) + epsilon)."""

    _HYPER = ("beta_1", "beta_2", "epsilon")
    _SLOTS = ("m", "s")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adam", **kwargs):
        super().__init__(learning_rate, name, dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon), **kwargs)


    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        b1, b2 = self._cast(self.beta_1, variable), self._cast(self.beta_2, variable)
        i = self._get_variable_index(variable)
        m, s = self._m[i], self._s[i]
        alpha = lr * ops.sqrt(1 - ops.power(b2, t)) / (1 - ops.power(b1, t))
        self.assign(m, b1 * m + (1 - b1) * g)
        self.assign(s, b2 * s + (1 - b2) * g * g)
        self.assign_sub(variable, alpha * m / (ops.sqrt(s) + self._cast(self.epsilon, variable)))


class AdaMax(_Optimizer):
    """AdaMax, as ``keras.optimizers.Adamax``: m <- b1 m + (1 - b1) g; u <- max(b2 u, |g|);
    theta <- theta - lr / (1 - b1^t) * m / (u + epsilon)."""

    _HYPER = ("beta_1", "beta_2", "epsilon")
    _SLOTS = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adamax", **kwargs):
        super().__init__(learning_rate, name, dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon), **kwargs)


    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        b1, b2 = self._cast(self.beta_1, variable), self._cast(self.beta_2, variable)
        i = self._get_variable_index(variable)
        m, u = self._m[i], self._u[i]
        self.assign(m, b1 * m + (1 - b1) * g)
        self.assign(u, ops.maximum(b2 * u, ops.abs(g)))
        self.assign_sub(variable, lr * m / ((1 - ops.power(b1, t)) * (u + self._cast(self.epsilon, variable))))


class Nadam(_Optimizer):
    """Nadam, as ``keras.optimizers.Nadam``, with its momentum schedule
    mu_t = b1 (1 - 0.5 * 0.96^t) and the running product P of the mu's:
    m_hat = mu_(t+1) m / (1 - P mu_(t+1)) + (1 - mu_t) g / (1 - P);
    theta <- theta - lr * m_hat / (sqrt(s / (1 - b2^t)) + epsilon).

    Keras keeps one product P for all variables and updates it once per step before the
    variables; here each variable keeps its own copy (a scalar), updated in its own
    update_step: the same numbers, with no override of Keras' private step plumbing.
    """

    _HYPER = ("beta_1", "beta_2", "epsilon")
    _SLOTS = ("m", "s")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="nadam", **kwargs):
        super().__init__(learning_rate, name, dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon), **kwargs)


    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._mu_product = [self.add_variable((), initializer="ones", dtype=v.dtype, name=f"mu_product_{k}")
                            for k, v in enumerate(var_list)]

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        b1, b2 = self._cast(self.beta_1, variable), self._cast(self.beta_2, variable)
        decay = self._cast(0.96, variable)
        i = self._get_variable_index(variable)
        m, s, product = self._m[i], self._s[i], self._mu_product[i]
        mu_t = b1 * (1 - 0.5 * ops.power(decay, t))
        mu_next = b1 * (1 - 0.5 * ops.power(decay, t + 1))
        self.assign(product, product * mu_t)
        self.assign(m, b1 * m + (1 - b1) * g)
        self.assign(s, b2 * s + (1 - b2) * g * g)
        m_hat = mu_next * m / (1 - product * mu_next) + (1 - mu_t) * g / (1 - product)
        s_hat = s / (1 - ops.power(b2, t))
        self.assign_sub(variable, lr * m_hat / (ops.sqrt(s_hat) + self._cast(self.epsilon, variable)))


class AdamW(Adam):
    """AdamW, as ``keras.optimizers.AdamW``: theta <- theta - theta * weight_decay * lr, then
    an Adam step. The decay is Keras' base-class weight decay (applied to every variable
    before the update steps; ``exclude_from_weight_decay`` works as for the built-ins)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay (use Adam for none)")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, name=name,
                         weight_decay=weight_decay, **kwargs)
