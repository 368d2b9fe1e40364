"""Module 07's explorer: optimizer trajectories on 2-D loss surfaces.

The student picks a surface, an optimizer, its learning rate, its momentum (or beta), the
number of steps and a learning-rate schedule, and sees the path from the surface's start
point on the contour plot, with the loss along the way.

The update rules are the course's own: the Keras ``Optimizer`` subclasses of
``deeptrain.kernels.optimizers`` (equations 11-4 to 11-8), applied eagerly to one float64
variable with the surface's exact gradient. ``tests/lib/test_explore_trajectories.py``
checks the paths against Keras' built-in optimizers and, for plain gradient descent on a
quadratic, against the closed form theta_t = (1 - lr * lambda)^t theta_0.

Speed: one step is one eager ``optimizer.apply`` (about 0.6 ms for momentum, 1.5 ms for
Nadam on two idle cores), so ``MAX_STEPS`` steps stay well under a second.
"""
from dataclasses import dataclass

import numpy as np

from . import register

MAX_STEPS = 300


@dataclass(frozen=True)
class Surface:
    """A 2-D loss J(theta) with its exact gradient, for theta of shape (..., 2).

    start: where every optimizer starts. box: (x_min, x_max, y_min, y_max) of the plot.
    minimum: the global minimum's value J*, so that J - J* can be drawn on a log scale.
    minimizers: the points where J = J* (stars on the plot). levels: contour levels of J - J*.
    """
    name: str
    loss: callable
    grad: callable
    start: tuple
    box: tuple
    minimum: float
    minimizers: tuple
    levels: tuple
    note: str


def _quadratic(curvatures, angle_deg):
    """J = 1/2 theta' A theta with A = R diag(curvatures) R', R a rotation by angle_deg."""
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    A = rotation @ np.diag(curvatures) @ rotation.T

    def loss(theta):
        theta = np.asarray(theta, dtype=np.float64)
        return 0.5 * np.einsum("...i,ij,...j->...", theta, A, theta)

    def grad(theta):
        return np.asarray(theta, dtype=np.float64) @ A      # A is symmetric

    return loss, grad, A


def _rosenbrock_loss(theta):
    theta = np.asarray(theta, dtype=np.float64)
    x, y = theta[..., 0], theta[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(theta):
    theta = np.asarray(theta, dtype=np.float64)
    x, y = theta[..., 0], theta[..., 1]
    return np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=-1)


def _saddle_loss(theta):
    """J = x^2 / 2 + y^4 / 4 - y^2 / 2: a saddle at the origin, minima at (0, +-1), J* = -1/4."""
    theta = np.asarray(theta, dtype=np.float64)
    x, y = theta[..., 0], theta[..., 1]
    return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2


def _saddle_grad(theta):
    theta = np.asarray(theta, dtype=np.float64)
    x, y = theta[..., 0], theta[..., 1]
    return np.stack([x, y**3 - y], axis=-1)


_bowl_loss, _bowl_grad, BOWL_A = _quadratic([1.0, 100.0], 0.0)
_tilted_loss, _tilted_grad, TILTED_A = _quadratic([1.0, 100.0], 45.0)

SURFACES = {s.name: s for s in [
    Surface("elongated bowl", _bowl_loss, _bowl_grad, start=(-4.0, 1.5), box=(-4.5, 1.5, -2.0, 2.0),
            minimum=0.0, minimizers=((0.0, 0.0),), levels=tuple(np.logspace(-1.5, 2.3, 12)),
            note="J = (x^2 + 100 y^2) / 2, the bowl of section 1"),
    Surface("tilted bowl", _tilted_loss, _tilted_grad, start=(-3.5, -2.0), box=(-4.5, 1.5, -3.5, 1.5),
            minimum=0.0, minimizers=((0.0, 0.0),), levels=tuple(np.logspace(-1.5, 2.3, 12)),
            note="the same bowl turned by 45 degrees: its axes are no longer the coordinates"),
    Surface("Rosenbrock", _rosenbrock_loss, _rosenbrock_grad, start=(-1.5, 2.0), box=(-2.0, 2.0, -1.0, 3.0),
            minimum=0.0, minimizers=((1.0, 1.0),), levels=tuple(np.logspace(-1, 3.3, 14)),
            note="J = (1 - x)^2 + 100 (y - x^2)^2: a curved, flat-bottomed valley"),
    Surface("saddle", _saddle_loss, _saddle_grad, start=(-2.5, 0.001), box=(-3.0, 3.0, -1.8, 1.8),
            minimum=-0.25, minimizers=((0.0, -1.0), (0.0, 1.0)), levels=tuple(np.logspace(-1.5, 1, 12)),
            note="J = x^2/2 + y^4/4 - y^2/2: a saddle at (0, 0) between two minima"),
]}

# What the "beta" control means for each rule (None: the rule has no such hyperparameter).
BETA_MEANING = {"SGD": None, "momentum": "momentum", "Nesterov": "momentum", "AdaGrad": None,
                "RMSProp": "rho", "Adam": "beta_1", "AdaMax": "beta_1", "Nadam": "beta_1"}
OPTIMIZERS = tuple(BETA_MEANING)
SCHEDULES = ("constant", "exponential", "1cycle")


def make_optimizer(name, learning_rate, beta=0.9):
    """A fresh ``deeptrain.kernels.optimizers`` optimizer for the rule `name` (one of OPTIMIZERS).

    learning_rate: a float or a Keras LearningRateSchedule. beta: the rule's momentum-like
    coefficient (``BETA_MEANING[name]``; ignored by SGD and AdaGrad). "SGD" is
    ``Momentum(momentum=0)``: plain gradient descent.
    """
    from ..kernels import optimizers as ko

    factories = {
        "SGD": lambda: ko.Momentum(learning_rate, momentum=0.0),
        "momentum": lambda: ko.Momentum(learning_rate, momentum=beta),
        "Nesterov": lambda: ko.Nesterov(learning_rate, momentum=beta),
        "AdaGrad": lambda: ko.AdaGrad(learning_rate),
        "RMSProp": lambda: ko.RMSProp(learning_rate, rho=beta),
        "Adam": lambda: ko.Adam(learning_rate, beta_1=beta),
        "AdaMax": lambda: ko.AdaMax(learning_rate, beta_1=beta),
        "Nadam": lambda: ko.Nadam(learning_rate, beta_1=beta),
    }
    if name not in factories:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {OPTIMIZERS}")
    return factories[name]()


def make_schedule(kind, learning_rate, n_steps):
    """The learning rate for a run of n_steps: a float ("constant") or a kernels.schedules object.

    "exponential": ten times smaller at the last step (ExponentialSchedule with s = n_steps).
    "1cycle": OneCycleSchedule(n_steps, max_lr=learning_rate) with its defaults.
    """
    if kind == "constant":
        return float(learning_rate)
    from ..kernels import schedules as ks

    if kind == "exponential":
        return ks.ExponentialSchedule(learning_rate, s=n_steps)
    if kind == "1cycle":
        return ks.OneCycleSchedule(n_steps, max_lr=learning_rate)
    raise ValueError(f"unknown schedule {kind!r}: choose one of {SCHEDULES}")


def run_optimizer(optimizer, grad_fn, theta0, n_steps, escape=1e3):
    """The points a Keras optimizer visits from theta0, following the exact gradient grad_fn.

    optimizer: a fresh Keras optimizer (its state starts empty). grad_fn: theta (2,) -> (2,).
    Returns (path, diverged): path of shape (k + 1, 2) with path[0] = theta0; the run stops
    early (diverged True) at the first point that is not finite or lies further than
    `escape` from the origin, which is then not included.
    """
    import keras

    from .. import import_tensorflow
    tf = import_tensorflow()
    variable = keras.Variable(np.array(theta0, dtype=np.float64), dtype="float64")
    path = [np.array(theta0, dtype=np.float64)]
    for _ in range(int(n_steps)):
        optimizer.apply([tf.constant(grad_fn(variable.numpy()), tf.float64)], [variable])
        theta = variable.numpy().copy()
        if not np.all(np.isfinite(theta)) or np.abs(theta).max() > escape:
            return np.array(path), True
        path.append(theta)
    return np.array(path), False


def trajectory(surface="elongated bowl", optimizer="momentum", learning_rate=0.01, beta=0.9, n_steps=100,
               schedule="constant"):
    """The path of one optimizer on one surface: (path, losses, diverged).

    path: (k + 1, 2) points from the surface's start (k = n_steps unless it diverged);
    losses: (k + 1,) J(path) - J*, the distance to the minimum's value.
    """
    if not 1 <= n_steps <= MAX_STEPS:
        raise ValueError(f"n_steps must be in [1, {MAX_STEPS}], got {n_steps}")
    s = SURFACES[surface]
    opt = make_optimizer(optimizer, make_schedule(schedule, learning_rate, n_steps), beta)
    path, diverged = run_optimizer(opt, s.grad, s.start, n_steps)
    return path, s.loss(path) - s.minimum, diverged


_CONTOURS = {}


def _contour_grid(surface):
    """(X, Y, J - J*) on a 160 x 160 grid over the surface's box, computed once per surface."""
    if surface.name not in _CONTOURS:
        x0, x1, y0, y1 = surface.box
        X, Y = np.meshgrid(np.linspace(x0, x1, 160), np.linspace(y0, y1, 160))
        _CONTOURS[surface.name] = (X, Y, surface.loss(np.stack([X, Y], axis=-1)) - surface.minimum)
    return _CONTOURS[surface.name]


def draw(surface="elongated bowl", optimizer="momentum", learning_rate=0.01, beta=0.9, n_steps=100,
         schedule="constant"):
    """The explorer's figure: the path on the contour plot (left), J - J* per step (right)."""
    from matplotlib.figure import Figure

    s = SURFACES[surface]
    path, losses, diverged = trajectory(surface, optimizer, learning_rate, beta, n_steps, schedule)
    fig = Figure(figsize=(10.5, 4.0), layout="constrained")
    ax, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    X, Y, Z = _contour_grid(s)
    ax.contour(X, Y, Z, levels=s.levels, colors="grey", linewidths=0.5)
    for point in s.minimizers:
        ax.plot(*point, "k*", ms=9)
    ax.plot(path[:, 0], path[:, 1], ".-", color="C0", ms=3, lw=1)
    ax.plot(*s.start, "o", color="C3", ms=5)
    ax.set_xlim(s.box[0], s.box[1]); ax.set_ylim(s.box[2], s.box[3])
    ax.set_xlabel(r"$\theta_1$"); ax.set_ylabel(r"$\theta_2$")
    ax.set_title(s.note, fontsize=9)

    steps = np.arange(len(losses))
    ax_loss.semilogy(steps, np.maximum(losses, 1e-16), color="C0")
    ax_loss.set_xlim(0, n_steps); ax_loss.grid(alpha=0.3)
    ax_loss.set_xlabel("step"); ax_loss.set_ylabel(r"$J(\theta) - J^*$ (log scale)")
    meaning = BETA_MEANING[optimizer]
    hyper = f"lr {learning_rate:.3g}" + (f", {meaning} {beta:.2f}" if meaning else "")
    hyper += "" if schedule == "constant" else f", {schedule} schedule"
    outcome = (f"diverged after {len(losses) - 1} steps" if diverged
               else f"J - J* after {n_steps} steps: {losses[-1]:.2e}")
    ax_loss.set_title(f"{optimizer} ({hyper})\n{outcome}", fontsize=9)
    return fig


def controls():
    """The explorer's controls, at its default setting (momentum 0.9, lr 0.01, the bowl)."""
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    return {
        "surface": widgets.Dropdown(options=list(SURFACES), value="elongated bowl", description="surface", style=style),
        "optimizer": widgets.Dropdown(options=list(OPTIMIZERS), value="momentum", description="optimizer",
                                      style=style),
        "learning_rate": widgets.FloatLogSlider(value=0.01, base=10, min=-4, max=0.5, step=0.05,
                                                description="learning rate", readout_format=".3g", style=style),
        "beta": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                    description="momentum / rho / beta_1", style=style),
        "n_steps": widgets.IntSlider(value=100, min=10, max=MAX_STEPS, step=10, description="steps", style=style),
        "schedule": widgets.Dropdown(options=list(SCHEDULES), value="constant", description="schedule", style=style),
    }


def explorer():
    """The interactive explorer (None while grading): ``trajectories.explorer()`` in module 07."""
    from . import explorer as make_explorer

    return make_explorer(draw, controls(), name="07_trajectories",
                         title="Optimizer trajectories (deeptrain.kernels.optimizers, exact gradients)")


register("07_trajectories", "07_optimizers", draw, controls)
