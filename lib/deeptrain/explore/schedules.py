"""Module 07's explorer: learning-rate schedules, the rate against the step.

The four schedules of section 7 (power, exponential, piecewise constant, 1cycle), computed by
the course's own Keras schedule objects (``deeptrain.kernels.schedules``) on every step of a
run at once. The chosen schedule is drawn in colour, the other three (with the same
parameters) in grey, on a linear and a log scale. ``tests/lib/test_explore_schedules.py``
checks the curves against the equations and against Keras' InverseTimeDecay,
ExponentialDecay and PiecewiseConstantDecay.
"""
import numpy as np

from . import register

KINDS = ("power", "exponential", "piecewise", "1cycle")


def schedule_object(kind, learning_rate, total_steps, s, c=1.0, factor=0.2, div_factor=10.0,
                    anneal_fraction=0.1):
    """The ``deeptrain.kernels.schedules`` object of schedule `kind` (one of KINDS).

    learning_rate: eta_0 (power, exponential, piecewise) or the peak max_lr (1cycle).
    s: the decay steps of power and exponential, and the length of each piecewise interval:
        the piecewise rate is eta_0, eta_0 * factor, eta_0 * factor^2 with boundaries s and 2 s.
    c: the power schedule's exponent. div_factor, anneal_fraction: 1cycle's (final_div_factor
        keeps its default, 1000). total_steps: the length of the 1cycle.
    """
    from ..kernels import schedules as ks

    if kind == "power":
        return ks.PowerSchedule(learning_rate, s, c)
    if kind == "exponential":
        return ks.ExponentialSchedule(learning_rate, s)
    if kind == "piecewise":
        return ks.PiecewiseConstantSchedule([s, 2 * s], [learning_rate, learning_rate * factor,
                                                          learning_rate * factor**2])
    if kind == "1cycle":
        return ks.OneCycleSchedule(total_steps, learning_rate, div_factor=div_factor,
                                   anneal_fraction=anneal_fraction)
    raise ValueError(f"unknown schedule {kind!r}: choose one of {KINDS}")


def schedule_curve(kind, learning_rate=0.05, total_steps=3000, s=1000, c=1.0, factor=0.2, div_factor=10.0,
                   anneal_fraction=0.1):
    """The learning rate at steps 0, 1, ..., total_steps - 1: float64 array (total_steps,).

    Evaluated by the kernels' schedule object in one call on all the steps (float32 inside).
    """
    schedule = schedule_object(kind, learning_rate, total_steps, s, c, factor, div_factor, anneal_fraction)
    steps = np.arange(int(total_steps), dtype=np.float32)
    return np.asarray(schedule(steps), dtype=np.float64)


def draw(kind="1cycle", learning_rate=0.05, total_steps=3000, s=1000, c=1.0, factor=0.2, div_factor=10.0,
         anneal_fraction=0.1):
    """The explorer's figure: every schedule against the step, `kind` highlighted; linear and log."""
    from matplotlib.figure import Figure

    params = dict(learning_rate=learning_rate, total_steps=total_steps, s=s, c=c, factor=factor,
                  div_factor=div_factor, anneal_fraction=anneal_fraction)
    curves = {k: schedule_curve(k, **params) for k in KINDS}
    steps = np.arange(total_steps)
    fig = Figure(figsize=(10.5, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, log in zip(axes, (False, True)):
        for i, k in enumerate(KINDS):
            chosen = k == kind
            (ax.semilogy if log else ax.plot)(steps, curves[k], color=f"C{i}" if chosen else "0.75",
                                              lw=2 if chosen else 1, zorder=3 if chosen else 2, label=k)
        ax.set_xlabel("step"); ax.set_ylabel("learning rate"); ax.grid(alpha=0.3)
        ax.set_xlim(0, total_steps)
    axes[1].set_ylim(bottom=curves[kind].min() / 3)   # the chosen curve decides the range
    axes[1].set_title("log scale", fontsize=9)
    axes[1].legend(fontsize="small", loc="lower left")
    lr = curves[kind]
    # The sum of the rates: how far plain SGD could travel with a unit gradient (a rough
    # measure of a schedule's total "budget" of movement).
    axes[0].set_title(f"{kind}: starts at {lr[0]:.3g}, peaks at {lr.max():.3g}, ends at {lr[-1]:.3g}; "
                      f"sum of the rates {lr.sum():.3g}", fontsize=9)
    return fig


def controls():
    """The explorer's controls at its default setting (1cycle peaking at 0.05 over 3,000 steps)."""
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    return {
        "kind": widgets.Dropdown(options=list(KINDS), value="1cycle", description="schedule", style=style),
        "learning_rate": widgets.FloatLogSlider(value=0.05, base=10, min=-4, max=0, step=0.1,
                                                description="eta_0 (peak for 1cycle)", readout_format=".3g",
                                                style=style),
        "total_steps": widgets.IntSlider(value=3000, min=500, max=10000, step=500, description="steps",
                                         style=style),
        "s": widgets.IntSlider(value=1000, min=50, max=5000, step=50,
                               description="s (power, exponential, piecewise)", style=style),
        "c": widgets.FloatSlider(value=1.0, min=0.25, max=3.0, step=0.25, description="c (power)", style=style),
        "factor": widgets.FloatSlider(value=0.2, min=0.05, max=0.9, step=0.05, description="factor (piecewise)",
                                      style=style),
        "div_factor": widgets.FloatLogSlider(value=10.0, base=10, min=0, max=2, step=0.25,
                                             description="div_factor (1cycle)", readout_format=".3g", style=style),
        "anneal_fraction": widgets.FloatSlider(value=0.1, min=0.05, max=0.5, step=0.05,
                                               description="anneal_fraction (1cycle)", style=style),
    }


def explorer():
    """The interactive explorer (None while grading): ``schedules.explorer()`` in module 07."""
    from . import explorer as make_explorer

    return make_explorer(draw, controls(), name="07_schedules",
                         title="Learning-rate schedules (deeptrain.kernels.schedules)")


register("07_schedules", "07_optimizers", draw, controls)
