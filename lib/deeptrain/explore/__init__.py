"""Interactive explorers: a thin widget layer over tested computing functions (issue 14).

An explorer is a figure that redraws when the student moves a control. The computing
functions live in the topic modules of this package (``variance``, ...), are pure NumPy
and are tested by pytest; this module only wires them to ipywidgets:

- ``explorer(draw, controls, name=...)``: the controls above a PNG of ``draw(**values)``,
  redrawn on every change (``ipywidgets.interactive_output``). Displays nothing while
  grading (``deeptrain.is_grading()``): explorers never cost grading time.
- ``draw_static(draw, controls, path)``: the PNG of the default setting, committed next to
  the notebook (``figures/explore_<name>.png``) for readers without a kernel.
- ``REGISTRY`` / ``register(...)``: every explorer by name, for
  ``python -m deeptrain.explore --write-figures``, the figure tests and ``python -m bench explorers``.

A ``draw`` function takes the controls' values as keyword arguments and returns a
Matplotlib ``Figure``; build it with ``matplotlib.figure.Figure`` (no pyplot state, so the
inline backend never shows it twice). The layer renders it to PNG bytes and closes it.
"""
import importlib
import io
import os
import pkgutil

from .._setup import is_grading

__all__ = ["explorer", "draw_static", "render_png", "default_values", "register", "REGISTRY",
           "load_all", "figure_path", "DPI"]

# Fixed resolution: the committed static figures are compared pixel by pixel with fresh
# renderings, and a lower dpi keeps a redraw fast (PNG encoding is a good share of it).
DPI = 80

# name -> (module_folder, draw, controls_factory). module_folder is the notebook's folder
# under solutions/ (e.g. "01_unstable_gradients"); controls_factory() returns a fresh
# {argument: ipywidgets control} dict whose initial values are the default setting.
REGISTRY = {}


def register(name, module_folder, draw, controls_factory):
    """Record an explorer under ``name`` (e.g. "01_depth"); returns ``draw`` unchanged.

    Topic modules call this at import time; ``load_all()`` imports them all.
    """
    REGISTRY[name] = (module_folder, draw, controls_factory)
    return draw


def load_all():
    """Import every topic module of this package (each registers its explorers); returns REGISTRY."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY


def figure_path(name, root=None):
    """Where the static figure of explorer ``name`` lives: solutions/<folder>/figures/explore_<name>.png.

    root: the repository (default: found from this file, lib/deeptrain/explore -> ../../..).
    """
    if root is None:
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    folder = REGISTRY[name][0]
    return os.path.join(root, "solutions", folder, "figures", f"explore_{name}.png")


def render_png(fig, dpi=DPI):
    """The PNG bytes of a Matplotlib figure, which is then closed (no figure outlives a redraw)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        # metadata={"Software": None}: no matplotlib version in the file, so a static figure
        # only differs from a fresh rendering when the pixels do.
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)  # a no-op for a Figure pyplot never managed
    return buffer.getvalue()


def default_values(controls):
    """{argument: control.value} of a controls dict: the setting the explorer opens with."""
    return {argument: control.value for argument, control in controls.items()}


def draw_static(draw, controls, path):
    """Save ``draw(**defaults)`` (the controls' initial values) as a PNG at ``path`` (dpi DPI).

    Creates the folder if needed. Returns ``path``.
    """
    png = render_png(draw(**default_values(controls)))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as file:
        file.write(png)
    return path


def explorer(draw, controls, *, name, title=None):
    """Show an interactive figure: the controls above the PNG of ``draw(**values)``.

    draw: function of the controls' values (keyword arguments) -> Matplotlib Figure.
    controls: {argument: ipywidgets control}, shown in this order. Sliders get
        ``continuous_update=False``: a redraw happens when the handle is released (or a key
        moves it), not for every pixel of a drag.
    name: the explorer's id, e.g. "01_depth" (static figure file, tests, bench).
    title: optional heading shown above the controls.

    While grading (``deeptrain.is_grading()``) displays nothing and returns None. Otherwise
    returns the container widget (the notebook cell's last expression shows it); its
    attributes ``image`` (an ``ipywidgets.Image`` holding the current PNG), ``output`` (the
    ``interactive_output`` Output widget, where a failing draw's traceback appears),
    ``controls`` and ``explorer_name`` let tests change a control's ``.value`` and read
    the new image.
    """
    if is_grading():
        return None
    import ipywidgets as widgets

    for control in controls.values():
        if hasattr(control, "continuous_update"):
            control.continuous_update = False
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))

    def update(**values):
        image.value = render_png(draw(**values))

    output = widgets.interactive_output(update, controls)
    rows = []
    if title:
        rows.append(widgets.HTML(f"<b>{title}</b>"))
    rows += [widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
             image, output]
    box = widgets.VBox(rows)
    box.add_class("deeptrain-explorer")
    box.add_class(f"deeptrain-explorer-{name}")
    box.image, box.output, box.controls, box.explorer_name = image, output, controls, name
    return box
