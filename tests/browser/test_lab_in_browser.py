"""JupyterLab and formgrader in a real browser (Debian's Chromium, driven by Playwright).

A student's server is started as `make lab` starts it, on a copy of the release; an
instructor's as `make formgrader` starts it, on a grading folder written by
`python -m autograder grade --grading DIR`. Screenshots of every failure are saved in
tests/browser/artifacts/ (git-ignored, except the screenshots that the README cites: see _shot).
"""
import json
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
from servers import TOKEN, jupyter_lab, make_server  # noqa: E402

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


def _click_validate(page, base):
    """Click Validate on the open notebook and wait for its dialog, asking the server for its status
    meanwhile. Returns (passed, the dialog's text, how many status requests the server answered
    before the dialog showed)."""
    page.locator(".validate-button:visible").first.click()
    result = page.locator(".validation-success, .validation-failed").first
    # Validate saves first; a save that overlaps an autosave can make JupyterLab ask whether the file
    # "changed on disk" (its own race, jupyterlab issue 17365): keep the open version, as a student would.
    changed = page.locator(".jp-Dialog", has_text="File Changed").get_by_role("button", name="Overwrite")
    answered, deadline = 0, time.time() + 180
    while not result.is_visible():
        assert time.time() < deadline, "Validate showed no result within 180 s"
        if changed.is_visible():
            changed.click()
        if page.request.get(f"{base}/api/status?token={TOKEN}", timeout=180_000).ok and not result.is_visible():
            answered += 1
        time.sleep(0.5)
    return "validation-success" in result.get_attribute("class"), result.inner_text(), answered


def _validate(page, base, path):
    """Open the notebook at path, click Validate; returns what _click_validate returns."""
    _open(page, base, path)
    return _click_validate(page, base)


def test_validate_passes_a_solved_notebook_and_the_server_stays_responsive(page, student_lab):
    """nbgrader's own handler runs the validation in the server's event loop: nothing else is served
    until it ends (nbgrader issue 1232). deeptrain.validate_server runs it in a thread."""
    passed, text, answered = _validate(page, student_lab[0], f"work/{MODULE}/solved.ipynb")
    assert passed, text[:2000]
    assert "Success! Your notebook passes all the tests." in text
    assert answered >= 5, f"the server answered {answered} status requests while validating"


def test_validate_on_the_untouched_release_says_what_is_missing(page, student_lab):
    passed, text, _ = _validate(page, student_lab[0], f"work/{MODULE}/{MODULE}.ipynb")
    assert not passed
    assert "You did not provide a response." in text


def test_validate_lists_the_failing_tests_when_the_code_is_missing(page, student_lab):
    passed, text, _ = _validate(page, student_lab[0], f"work/{MODULE}/written_only.ipynb")
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


def _instructor_tools(page):
    """What of nbgrader's instructor interface the open JupyterLab page shows."""
    page.wait_for_timeout(2000)        # the plugins add their menu and panels just after load
    menu = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$"))
    items = []
    if menu.count():
        menu.first.click()
        items = page.locator(".lm-Menu-itemLabel:visible").all_inner_texts()
        page.keyboard.press("Escape")
    return {"nbgrader menu": menu.count() > 0, "menu items": [t for t in items if t.strip()],
            "create assignment panel": page.locator("[title='Nbgrader Create Assignment']").count() > 0}


def test_make_lab_is_the_students_lab_without_instructor_tools(page, tmp_path):
    """`make lab`: the working copy, Validate, and nothing of the instructor's: no formgrader
    (server part off: 404), no Create Assignment panel, no Nbgrader menu."""
    work = os.path.join("tests", "browser", "artifacts", f"work-{os.getpid()}")
    try:
        with make_server("lab", str(tmp_path / "server.log"), WORK=work, GRADING=str(tmp_path / "grading")) as base:
            assert page.request.get(f"{base}/formgrader?token={TOKEN}").status == 404
            page.goto(f"{base}/lab/tree/{work}?token={TOKEN}&reset")
            listing = page.locator(".jp-DirListing-content")
            listing.locator(f"text={MODULE}").first.wait_for()
            assert listing.locator("text=08_regularization").count() == 1
            page.goto(f"{base}/lab/tree/{work}/{MODULE}/{MODULE}.ipynb?token={TOKEN}&reset")
            page.locator(".jp-Notebook:visible .jp-Cell").first.wait_for()
            page.locator(".validate-button:visible").first.wait_for()
            tools = _instructor_tools(page)
            assert tools == {"nbgrader menu": False, "menu items": [], "create assignment panel": False}, tools
        assert not os.path.exists(tmp_path / "grading" / "gradebook.db"), "make lab prepared formgrader's gradebook"
    finally:
        shutil.rmtree(os.path.join(ROOT, work), ignore_errors=True)


def test_make_formgrader_keeps_the_instructor_tools_and_works_on_first_use(page, tmp_path):
    """`make formgrader` on a fresh grading folder: formgrader loads at once, and its JupyterLab
    has the Create Assignment panel and the Nbgrader menu's Formgrader entry."""
    with make_server("formgrader", str(tmp_path / "server.log"), GRADING=str(tmp_path / "grading")) as base:
        page.goto(f"{base}/formgrader?token={TOKEN}")
        page.locator("#main-table").locator(f"text={MODULE}").first.wait_for(timeout=120_000)
        page.goto(f"{base}/lab?token={TOKEN}&reset")
        page.locator(".lm-MenuBar-itemLabel").first.wait_for()
        tools = _instructor_tools(page)
        assert tools["nbgrader menu"] and "Formgrader" in tools["menu items"], tools
        assert tools["create assignment panel"], tools
    assert os.path.isfile(tmp_path / "grading" / "gradebook.db")


def test_no_exchange_panels_no_error_dialog_and_no_news_prompt(page, student_lab):
    base, _ = student_lab
    _open(page, base, f"work/{MODULE}/{MODULE}.ipynb")
    assert page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).count() == 0
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


# --- the student's side (issue 21): opening is not editing, Run All reaches the end, progress ---

def _shot(page, name, locator=None):
    """A screenshot of the locator's element, else of the page as it is. With DEEPTRAIN_SCREENSHOTS=1
    it goes to tests/browser/artifacts/NAME.png (the committed ones that the README cites are made
    so), else to a temporary folder, so that a test run leaves the working tree clean."""
    import tempfile
    folder = ARTIFACTS if os.environ.get("DEEPTRAIN_SCREENSHOTS") else tempfile.mkdtemp(prefix="shots-")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.png")
    (locator or page).screenshot(path=path)
    return path


def _update_course(root, n):
    """A course update: the release's title cell changes (what `git pull` brings)."""
    path = root / "course" / MODULE / f"{MODULE}.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] = "".join(nb["cells"][0]["source"]) + f"\n\n*Course update {n}.*"
    path.write_text(json.dumps(nb, indent=1, sort_keys=True))


@pytest.fixture(scope="module")
def workspace_lab(tmp_path_factory):
    """A student's lab on work/, made from a copy of the release by deeptrain.workspace (as
    `make lab` makes it), with autosave every 3 s."""
    from deeptrain.workspace import sync
    root = tmp_path_factory.mktemp("workspace")
    shutil.copytree(os.path.join(COURSE, MODULE), root / "course" / MODULE)
    assert sync(root / "course", root / "work", log=lambda *_: None) == {f"{MODULE}/{MODULE}.ipynb": "copied"}
    # Validate's cell timeout as under `make lab` (autograder/nbgrader_config.py), not nbgrader's 30 s.
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 120\n")
    with jupyter_lab(str(root), str(root / "server.log"), autosave=3) as base:
        yield base, root


def _prompts_done(page, timeout):
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
        return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
    }""", timeout=timeout)


_NATURAL_WIDTHS = """sel => [...document.querySelectorAll(sel)].map(img => img.complete ? img.naturalWidth : -1)"""


def test_run_all_on_the_untouched_release_reaches_the_end_and_an_update_replaces_it(page, workspace_lab):
    """Run All on untouched module 01 in work/: every cell runs; each test cell says "Not solved
    yet" in one line, the demos say what to solve first, the explorer and the static figure draw,
    the last cell summarises. Autosave writes the notebook; a course update still replaces it."""
    from deeptrain.workspace import UPDATE_SUFFIX, sync
    base, root = workspace_lab
    mine = root / "work" / MODULE / f"{MODULE}.ipynb"
    _open(page, base, f"work/{MODULE}/{MODULE}.ipynb")
    nb = page.locator(".jp-Notebook:visible")
    static = ".jp-Notebook:not(.lm-mod-hidden) .jp-MarkdownCell img"
    page.wait_for_function(f"() => ({_NATURAL_WIDTHS})({static!r}).some(w => w > 0)", timeout=30_000)
    assert all(w > 0 for w in page.evaluate(_NATURAL_WIDTHS, static)), "a static figure does not load in work/"
    _menu(page, "Run", "Run All Cells")
    _prompts_done(page, timeout=400_000)
    # JupyterLab shows an error, like stderr, as application/vnd.jupyter.stderr: the only ones are
    # the three test cells' one-line "Not solved yet".
    red = nb.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert len(red) == 3 and all(t.startswith("Not solved yet:") and len(t.strip().splitlines()) == 1 for t in red), red
    assert nb.locator("text=/Solve exercises? .* first/").count() >= 3
    explorer = ".jp-Notebook:not(.lm-mod-hidden) .deeptrain-explorer-01_depth img"
    page.wait_for_function(f"() => ({_NATURAL_WIDTHS})({explorer!r}).some(w => w > 0)", timeout=60_000)
    progress = nb.locator(".deeptrain-progress")
    assert "0 of 3 pass their visible checks" in progress.inner_text()
    assert progress.locator(".deeptrain-progress-not-solved").count() == 3
    first_test = nb.locator(".jp-CodeCell", has_text="Not solved yet").first
    first_test.scroll_into_view_if_needed()
    page.evaluate("""() => { const el = document.querySelector('.jp-Notebook:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
                             || document.querySelector('.jp-Notebook:not(.lm-mod-hidden)');
                             if (el) el.scrollBy(0, -120); }""")
    _shot(page, "run_all_untouched_01")
    progress.scroll_into_view_if_needed()
    _shot(page, "run_all_untouched_01_end")
    figure = nb.locator(".jp-MarkdownCell", has=page.locator("img")).last
    figure.scroll_into_view_if_needed()
    _shot(page, "static_figure_in_work_01", figure)

    # Autosave writes the run (outputs, execution counts, JupyterLab's metadata) to work/ ...
    deadline = time.time() + 60
    while not any(c.get("outputs") for c in json.loads(mine.read_text())["cells"] if c["cell_type"] == "code"):
        assert time.time() < deadline, "autosave never wrote the notebook"
        time.sleep(1)
    # ... and that is not an edit: a course update replaces the notebook.
    _update_course(root, 1)
    assert sync(root / "course", root / "work", log=lambda *_: None) == {f"{MODULE}/{MODULE}.ipynb": "updated"}
    assert "Course update 1." in mine.read_text()
    assert not (mine.parent / f"{MODULE}{UPDATE_SUFFIX}.ipynb").exists()


def _type_into(page, cell, text):
    """Replace a code cell's text as a student does (click, select all, type)."""
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def _run(page, cell):
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function("c => /^\\[\\d+\\]:$/.test(c.querySelector('.jp-InputPrompt').textContent.trim())",
                           arg=cell.element_handle(), timeout=120_000)


def test_a_half_solved_notebook_shows_what_passed_and_typing_keeps_it_through_an_update(page, workspace_lab):
    """Exercise 1 solved, exercise 2 answered wrongly, exercise 3 left: the last cell says which
    pass their visible checks, Validate lists what fails; the typed notebook is kept through a
    course update, with the update beside it."""
    from deeptrain.workspace import UPDATE_SUFFIX, sync
    base, root = workspace_lab
    mine = root / "work" / MODULE / f"{MODULE}.ipynb"
    sol = nbformat.read(os.path.join(SOLUTIONS, MODULE, f"{MODULE}.ipynb"), as_version=4)
    answer = {c.metadata["nbgrader"]["grade_id"]: c.source for c in sol.cells
              if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    _open(page, base, f"work/{MODULE}/{MODULE}.ipynb")
    nb = page.locator(".jp-Notebook:visible")
    cell = {name: nb.locator(".jp-CodeCell", has_text=text).first for name, text in (
        ("setup", "tf = dt.setup()"), ("sigmoid", "def sigmoid(z):"), ("test_sigmoid", "sigmoid(z), [0.1192"),
        ("forward", "def forward_variances("), ("test_forward", "v = forward_variances(4, 50"),
        ("gradients", "def layer_gradient_norms("), ("test_gradients", "tiny = tf.keras.Sequential"),
        ("progress", "dt.progress({"))}
    _type_into(page, cell["sigmoid"], answer["sigmoid"])
    release_forward = cell["forward"].locator(".jp-InputArea-editor").inner_text()
    wrong = release_forward.replace("raise NotImplementedError()", "return np.zeros(n_layers)")
    assert wrong != release_forward
    _type_into(page, cell["forward"], wrong)
    for name in ("setup", "sigmoid", "test_sigmoid", "forward", "test_forward", "gradients", "test_gradients",
                 "progress"):
        _run(page, cell[name])
    progress = nb.locator(".deeptrain-progress")
    progress.wait_for()
    text = progress.inner_text()
    assert "1 of 3 pass their visible checks" in text, text
    assert progress.locator(".deeptrain-progress-passed").count() == 1
    assert progress.locator(".deeptrain-progress-failing").count() == 1
    assert progress.locator(".deeptrain-progress-not-solved").count() == 1
    assert "a linear stack with weight_std" in text, text
    _shot(page, "progress_half_solved_01", cell["progress"])

    passed, _, _ = _click_validate(page, base)
    assert not passed
    _shot(page, "validate_half_solved_01", page.locator(".jp-Dialog-content").first)
    page.keyboard.press("Escape")

    # The student typed in cells: a course update keeps their notebook and puts the new one beside it.
    saved = json.loads(mine.read_text())
    assert any("return np.zeros(n_layers)" in "".join(c["source"]) for c in saved["cells"])
    _update_course(root, 2)
    assert sync(root / "course", root / "work", log=lambda *_: None) == {f"{MODULE}/{MODULE}.ipynb": "kept"}
    assert "return np.zeros(n_layers)" in mine.read_text()
    beside = mine.parent / f"{MODULE}{UPDATE_SUFFIX}.ipynb"
    assert beside.is_file() and "Course update 2." in beside.read_text()
