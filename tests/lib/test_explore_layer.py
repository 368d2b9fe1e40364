"""The explorers' widget layer (deeptrain.explore) and the committed static figures.

The layer is driven the way a student drives it: change a control's ``.value`` and read the
image the explorer shows. The static-figure test compares each committed PNG with a fresh
rendering of its explorer at the default setting, pixel by pixel.
"""
import io
import os

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import deeptrain.explore as ex

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Mean absolute difference per pixel channel (0-255) a static figure may differ from a fresh
# rendering: antialiasing or a FreeType build may move a few edge pixels; a changed curve,
# label or setting moves far more (see test_pixel_difference_tells_settings_apart).
PIXEL_TOLERANCE = 1.0


def _toy_draw(a, colour="C0"):
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1], [0, a], color=colour, lw=4)
    return fig


def _toy_controls():
    return {"a": widgets.IntSlider(value=1, min=0, max=5),
            "colour": widgets.Dropdown(options=["C0", "C1"], value="C0")}


def _pixels(png):
    """PNG bytes -> float array (height, width, channels)."""
    return plt.imread(io.BytesIO(png), format="png").astype(float) * 255


def _pixel_difference(png_a, png_b):
    """Mean absolute difference per channel (0-255); inf when the sizes differ."""
    a, b = _pixels(png_a), _pixels(png_b)
    return float(np.abs(a - b).mean()) if a.shape == b.shape else float("inf")


def test_explorer_shows_a_png_and_redraws_when_a_control_changes(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    controls = _toy_controls()
    box = ex.explorer(_toy_draw, controls, name="toy", title="A toy")
    first = bytes(box.image.value)             # the trait holds a memoryview
    assert first.startswith(PNG_MAGIC)
    controls["a"].value = 4
    second = bytes(box.image.value)
    assert second.startswith(PNG_MAGIC) and second != first
    controls["colour"].value = "C1"
    assert bytes(box.image.value) not in (first, second)
    assert box.explorer_name == "toy" and box.controls is controls
    assert box.image in box.children and box.output in box.children


def test_explorer_sliders_redraw_on_release_not_on_every_pixel(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    controls = _toy_controls()
    ex.explorer(_toy_draw, controls, name="toy")
    assert controls["a"].continuous_update is False


def test_explorer_displays_nothing_while_grading(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    calls = []
    assert ex.explorer(lambda **kw: calls.append(kw), _toy_controls(), name="toy") is None
    assert calls == []          # not even one drawing


def test_explorer_leaves_no_pyplot_figure_open(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)

    def pyplot_draw(a, colour="C0"):
        fig, ax = plt.subplots()
        ax.plot([0, a])
        return fig

    plt.close("all")
    controls = _toy_controls()
    ex.explorer(pyplot_draw, controls, name="toy")
    for value in (2, 3, 4):
        controls["a"].value = value
    assert plt.get_fignums() == []


def test_draw_static_writes_the_default_setting(tmp_path):
    path = tmp_path / "figures" / "explore_toy.png"
    controls = _toy_controls()
    controls["a"].value = 5
    assert ex.draw_static(_toy_draw, controls, str(path)) == str(path)
    assert _pixel_difference(path.read_bytes(), ex.render_png(_toy_draw(a=5))) == 0.0
    assert _pixel_difference(path.read_bytes(), ex.render_png(_toy_draw(a=0))) > PIXEL_TOLERANCE


def test_registry_holds_the_explorers_of_modules_01_to_03():
    registry = ex.load_all()
    for name, folder in [("01_depth", "01_unstable_gradients"), ("02_init", "02_initialization"),
                         ("03_activation", "03_activations")]:
        assert registry[name][0] == folder
        assert ex.figure_path(name).endswith(os.path.join("solutions", folder, "figures",
                                                          f"explore_{name}.png"))


@pytest.mark.parametrize("name", sorted(ex.load_all()))
def test_static_figure_exists_and_matches_a_fresh_rendering(name):
    folder, draw, controls_factory = ex.REGISTRY[name]
    path = ex.figure_path(name)
    assert os.path.exists(path), (f"{path} is missing: run `python -m deeptrain.explore "
                                  f"--write-figures` and commit it")
    fresh = ex.render_png(draw(**ex.default_values(controls_factory())))
    with open(path, "rb") as file:
        committed = file.read()
    difference = _pixel_difference(committed, fresh)
    assert difference <= PIXEL_TOLERANCE, (
        f"{path} differs from the explorer's default rendering (mean |diff| {difference:.2f} > "
        f"{PIXEL_TOLERANCE}): regenerate with `python -m deeptrain.explore --write-figures`")


@pytest.mark.parametrize("name", sorted(ex.load_all()))
def test_every_registered_explorer_redraws_when_its_first_control_moves(name, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    _, draw, controls_factory = ex.REGISTRY[name]
    controls = controls_factory()
    box = ex.explorer(draw, controls, name=name)
    before = bytes(box.image.value)
    first = next(iter(controls.values()))
    options = getattr(first, "options", None)
    if options:                                  # a dropdown: pick another option
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        first.value = next(v for v in values if v != first.value)
    else:                                        # a slider: one step toward the other end
        step = first.step if first.value + first.step <= first.max else -first.step
        first.value = first.value + step
    after = bytes(box.image.value)
    assert after != before
    assert _pixel_difference(after, before) > 0


def test_pixel_difference_tells_settings_apart():
    # The tolerance can fail: the 01 explorer one layer deeper is far from its default figure.
    from deeptrain.explore import variance
    default = ex.render_png(variance.draw(**variance.DEFAULTS["01_depth"]))
    deeper = ex.render_png(variance.draw(**{**variance.DEFAULTS["01_depth"], "depth": 11}))
    assert _pixel_difference(default, default) == 0.0
    assert _pixel_difference(default, deeper) > PIXEL_TOLERANCE
