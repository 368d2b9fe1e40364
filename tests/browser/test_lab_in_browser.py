"""JupyterLab and formgrader in a real browser (Debian's Chromium, driven by Playwright).

A student's server is started as `make lab` starts it, on a copy of the release; an
instructor's as `make formgrader` starts it, on a grading folder written by
`python -m autograder grade --grading DIR`. Screenshots of every failure are saved in
tests/browser/artifacts/ (git-ignored).
"""
import os
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

from autograder import COURSE, ROOT, SOLUTIONS

sys.path.insert(0, os.path.dirname(__file__))
from servers import CHROMIUM_ARGS, TOKEN, chromium_path, jupyter_lab, make_server  # noqa: E402

pytestmark = pytest.mark.slow
MODULE = "01_unstable_gradients"
ARTIFACTS = os.path.join(os.path.dirname(__file__), "artifacts")


def _solved_copy(dst, code=True, written=True, release=COURSE):
    """The release of MODULE (from the folder `release`, course/ by default) with the solution's
    answers typed into its answer cells (code answers, written answers or both)."""
    nb = nbformat.read(os.path.join(release, MODULE, f"{MODULE}.ipynb"), as_version=4)
    sol = nbformat.read(os.path.join(SOLUTIONS, MODULE, f"{MODULE}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in sol.cells
               if c.metadata.get("nbgrader", {}).get("solution")
               and (code if c.cell_type == "code" else written)}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    nbformat.write(nb, dst)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        os.makedirs(ARTIFACTS, exist_ok=True)
        pg.screenshot(path=os.path.join(ARTIFACTS, f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    shutil.copytree(os.path.join(COURSE, MODULE), root / "work" / MODULE)
    _solved_copy(root / "work" / MODULE / "solved.ipynb")
    _solved_copy(root / "work" / MODULE / "written_only.ipynb", code=False)
    with jupyter_lab(str(root), str(root / "server.log")) as base:
        yield base, root


def _kernel_idle(page, base, path):
    """True when the server has a kernel for the notebook at path and it is idle."""
    sessions = page.request.get(f"{base}/api/sessions?token={TOKEN}").json()
    return any(s.get("path", "").endswith(path) and s["kernel"]["execution_state"] == "idle" for s in sessions)


def _open(page, base, path):
    page.goto(f"{base}/lab/tree/{path}?token={TOKEN}&reset")   # reset: no tabs of earlier tests
    page.locator(".jp-Notebook:visible .jp-Cell").first.wait_for()
    # The kernel is ready when the server reports it idle and the page says so (a command
    # sent before the page is connected runs no code cell at all, silently).
    deadline = time.time() + 180
    while not _kernel_idle(page, base, path):
        assert time.time() < deadline, "the notebook's kernel never became idle"
        time.sleep(1)
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=120_000)


def _menu(page, top, item):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def test_run_all_renders_the_figures_with_no_stderr_block(page, student_lab):
    base, _ = student_lab
    _open(page, base, f"work/{MODULE}/solved.ipynb")
    _menu(page, "Run", "Run All Cells")
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-Notebook:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
        .some(p => p.textContent.trim() !== '[ ]:')""", timeout=30_000)
    # Every code cell has run when no prompt says [*] or is empty.
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
        return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
    }""", timeout=240_000)
    assert page.locator(".jp-OutputArea-output[data-mime-type='image/png'] img").count() >= 2
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0, \
        "a cell shows a red stderr block"
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0


def _validate(page, base, path):
    """Open the notebook at path, click Validate; returns (passed, the dialog's text)."""
    _open(page, base, path)
    page.locator(".validate-button:visible").first.click()
    result = page.locator(".validation-success, .validation-failed").first
    result.wait_for(timeout=180_000)
    return "validation-success" in result.get_attribute("class"), result.inner_text()


def test_validate_passes_a_solved_notebook(page, student_lab):
    passed, text = _validate(page, student_lab[0], f"work/{MODULE}/solved.ipynb")
    assert passed, text[:2000]
    assert "Success! Your notebook passes all the tests." in text


def test_validate_on_the_untouched_release_says_what_is_missing(page, student_lab):
    passed, text = _validate(page, student_lab[0], f"work/{MODULE}/{MODULE}.ipynb")
    assert not passed
    assert "You did not provide a response." in text


def test_validate_lists_the_failing_tests_when_the_code_is_missing(page, student_lab):
    passed, text = _validate(page, student_lab[0], f"work/{MODULE}/written_only.ipynb")
    assert not passed
    assert text.count("The following cell failed:") >= 2, text[:2000]
    assert "NotImplementedError" in text


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A grading folder outside the repository, written by the instructor's grade command."""
    tmp = tmp_path_factory.mktemp("instructor")
    _solved_copy(tmp / "ann.ipynb")
    (tmp / "subs" / "ann").mkdir(parents=True)
    shutil.move(tmp / "ann.ipynb", tmp / "subs" / "ann" / f"{MODULE}.ipynb")
    r = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp / "subs"), "--grading",
                        str(tmp / "grading"), "--jobs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return tmp / "grading"


def test_make_formgrader_lists_the_assignments_and_shows_a_graded_student(page, graded, tmp_path):
    with make_server("formgrader", str(tmp_path / "server.log"), GRADING=str(graded)) as base:
        page.goto(f"{base}/formgrader?token={TOKEN}")
        table = page.locator("#main-table")
        table.locator("text=01_unstable_gradients").first.wait_for()
        assert table.locator("text=08_regularization").count() >= 1
        page.goto(f"{base}/formgrader/manage_students?token={TOKEN}")
        row = page.locator("#main-table tr", has_text="ann")
        row.first.wait_for()
        text = row.first.inner_text()
        assert re.search(r"\d+(\.\d+)?\s*/\s*\d+", text), text


def test_make_lab_opens_the_working_copy_and_formgrader_works_on_first_use(page, tmp_path):
    """`make lab` on a fresh grading folder: no gradebook yet, formgrader loads at once."""
    work = os.path.join("tests", "browser", "artifacts", f"work-{os.getpid()}")
    try:
        with make_server("lab", str(tmp_path / "server.log"), WORK=work, GRADING=str(tmp_path / "grading")) as base:
            page.goto(f"{base}/lab/tree/{work}?token={TOKEN}&reset")
            listing = page.locator(".jp-DirListing-content")
            listing.locator(f"text={MODULE}").first.wait_for()
            assert listing.locator("text=08_regularization").count() == 1
            page.goto(f"{base}/formgrader?token={TOKEN}")
            page.locator("#main-table").locator(f"text={MODULE}").first.wait_for(timeout=120_000)
            assert page.locator("text=Loading, please wait").count() == 0 or \
                not page.locator("text=Loading, please wait").first.is_visible()
        assert os.path.isfile(tmp_path / "grading" / "gradebook.db")
    finally:
        shutil.rmtree(os.path.join(ROOT, work), ignore_errors=True)


def test_no_exchange_panels_no_error_dialog_and_no_news_prompt(page, student_lab):
    base, _ = student_lab
    _open(page, base, f"work/{MODULE}/{MODULE}.ipynb")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
    items = page.locator(".lm-Menu-itemLabel:visible").all_inner_texts()
    page.keyboard.press("Escape")
    assert not any("Assignment List" in t or "Course List" in t for t in items), items
    page.wait_for_timeout(3000)   # the news prompt and exchange errors arrive a moment after load
    assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_inner_texts()
    toasts = " ".join(page.locator(".jp-Notification-Toast, .Toastify__toast").all_inner_texts())
    assert "news" not in toasts.lower() and "exchange" not in toasts.lower(), toasts


# --- interactive explorers (issue 14) ---

EXPLORER_CALL = 'variance.explorer("01_depth")'
WIDGET_ERRORS = ("model not found", "Error displaying widget", "Failed to load model class")

_IMAGE_PIXELS = """sel => {
    const img = document.querySelector(sel);
    if (!img || !img.complete || !img.naturalWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    canvas.getContext('2d').drawImage(img, 0, 0);
    return canvas.toDataURL('image/png');
}"""


@pytest.fixture(scope="module")
def explorer_lab(tmp_path_factory):
    """A student's lab on a solved copy of a release of MODULE generated now from solutions/
    (so the test follows the explorer cell without waiting for course/ to be regenerated;
    tests/notebooks/test_release.py checks that course/ is that same release)."""
    from autograder.release import generate

    tmp = tmp_path_factory.mktemp("explorer")
    generate(MODULE, release_dir=str(tmp / "course"), grading_dir=str(tmp / "grading"))
    root = tmp / "lab"
    shutil.copytree(tmp / "course" / MODULE, root / "work" / MODULE)
    _solved_copy(root / "work" / MODULE / "solved.ipynb", release=str(tmp / "course"))
    with jupyter_lab(str(root), str(root / "server.log")) as base:
        yield base, root


def _widget_errors(page):
    text = page.locator(".jp-Notebook:visible").inner_text()
    return [e for e in WIDGET_ERRORS if e.lower() in text.lower()]


def test_explorer_redraws_its_figure_when_a_slider_moves(page, explorer_lab):
    base, root = explorer_lab
    release = root / "work" / MODULE
    assert (release / "figures" / "explore_01_depth.png").is_file(), \
        "the release lacks the explorer's static figure (figures/ not copied by generate_assignment?)"
    try:
        _open(page, base, f"work/{MODULE}/solved.ipynb")
        cell = page.locator(".jp-Notebook:visible .jp-CodeCell", has_text=EXPLORER_CALL)
        assert cell.count() == 1, f"the release of {MODULE} has no cell calling {EXPLORER_CALL}"
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")                  # run this cell only
        explorer = cell.locator(".deeptrain-explorer-01_depth")
        explorer.wait_for(timeout=60_000)
        img = ".jp-Notebook:not(.lm-mod-hidden) .deeptrain-explorer-01_depth img"
        page.wait_for_function(f"() => ({_IMAGE_PIXELS})({img!r}) !== null", timeout=60_000)
        before = page.evaluate(_IMAGE_PIXELS, img)
        assert before.startswith("data:image/png") and len(before) > 5000, before[:100]
        readout = explorer.locator(".widget-readout").first
        depth_before = readout.inner_text().strip()

        # Move the depth slider one step with the keyboard, as a student can.
        explorer.locator(".noUi-handle").first.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"""() => {{ const r = document.querySelector(
            '.jp-Notebook:not(.lm-mod-hidden) .deeptrain-explorer-01_depth .widget-readout');
            return r && r.textContent.trim() !== {depth_before!r}; }}""", timeout=30_000)
        page.wait_for_function(f"b => {{ const now = ({_IMAGE_PIXELS})({img!r}); return now !== null && now !== b; }}",
                               arg=before, timeout=60_000)
        after = page.evaluate(_IMAGE_PIXELS, img)
        assert after != before
        assert int(readout.inner_text().strip()) == int(depth_before) + 1
        assert _widget_errors(page) == [], _widget_errors(page)
        assert cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        assert cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0
    except Exception:
        os.makedirs(ARTIFACTS, exist_ok=True)
        page.screenshot(path=os.path.join(ARTIFACTS, "explorer_slider.png"), full_page=True)
        raise
