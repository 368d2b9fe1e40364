"""Get the gradebook ready before a server that shows formgrader starts (``make lab``,
``make formgrader``).

Why: formgrader creates or upgrades ``gradebook.db`` on its first API call by running
``alembic`` by name. A server started without the environment's ``bin`` on PATH fails there
(``FileNotFoundError: 'alembic'``), the page hangs on "Loading", and the half-made database
(tables, no ``alembic_version``) then makes ``nbgrader db upgrade`` fail too. Preparing the
database here, with this environment's nbgrader, removes that first-use failure, and a
database that cannot be used gets a message saying what to do instead of a hang.

Math renders offline (``jupyter-server-mathjax``, a dependency, holds MathJax 2.7): formgrader's
grading view loads MathJax from this server (a template override installed into the
environment's Jupyter data folder, ``share/jupyter/nbconvert/templates/formgrade/``, which
nbconvert reads before its own CDN default), and the feedback HTML files carry MathJax inline
(``offline_mathjax``, applied by autograder/task.py), so a student's browser needs no network.
"""
import argparse
import os
import re
import sqlite3
import sys

from . import grading_dir
from .nb import run_nbgrader

# nbgrader tables that hold work: a gradebook with rows in these is never deleted.
_DATA_TABLES = ("student", "submitted_assignment", "grade", "comment")


class GradebookError(RuntimeError):
    """The gradebook exists but cannot be used or upgraded."""


def _tables(path):
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _holds_work(path, tables):
    with sqlite3.connect(path) as db:
        return any(db.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in _DATA_TABLES if t in tables)


def prepare(grading=None, log=print):
    """Create or upgrade GRADING/gradebook.db so that formgrader works on first use.

    A database left without ``alembic_version`` by an earlier failed start and holding no
    work is recreated; one that holds work, or is not SQLite, raises GradebookError naming
    the file and the way out. Returns the database path.
    """
    grading = os.path.abspath(grading or grading_dir())
    os.makedirs(grading, exist_ok=True)
    path = os.path.join(grading, "gradebook.db")
    if os.path.exists(path):
        try:
            tables = _tables(path)
        except sqlite3.DatabaseError as e:
            raise GradebookError(f"{path} is not an SQLite gradebook ({e}). Move it away and start again: "
                                 "formgrader creates a new, empty one.") from None
        if tables and "alembic_version" not in tables:
            if _holds_work(path, tables):
                raise GradebookError(
                    f"{path} has no alembic_version table, so nbgrader cannot upgrade it, and it holds "
                    "grades. Back it up, then either add the version by hand (`alembic stamp`) or move it "
                    "away and regrade with `python -m autograder grade`.")
            log(f"{path} was left half-made by an earlier failed start and holds no work: recreating it")
            os.remove(path)
    result = run_nbgrader(["db", "upgrade"], grading_dir=grading, timeout=300)
    if result.returncode != 0:
        raise GradebookError(f"`nbgrader db upgrade` failed on {path}:\n{result.stdout}{result.stderr}")
    return path


# --- MathJax served from the environment ---------------------------------------------------------

MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"          # the combined configuration jupyter-server-mathjax ships
_CDN_TAG = re.compile(r'<script[^>]*src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"[^>]*>\s*</script>')
_FORMGRADE_MATHJAX = """{#- deeptrain (autograder/formgrader.py): MathJax from this Jupyter server, not a CDN -#}
{%- macro mathjax(url=None) -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    tex2jax: {inlineMath: [['$','$'], ["\\\\(","\\\\)"]], displayMath: [['$$','$$'], ["\\\\[","\\\\]"]],
              processEscapes: true, processEnvironments: true},
    displayAlign: 'center', messageStyle: 'none', CommonHTML: {linebreaks: {automatic: true}}
});
</script>
<script>
(function () {   /* the server's base URL is what precedes /formgrader/ in this page's path */
    var base = window.location.pathname.split('/formgrader/')[0];
    var s = document.createElement('script');
    s.src = base + '/static/jupyter_server_mathjax/MathJax.js?config=MATHJAX_CONFIG,Safe';
    document.head.appendChild(s);
})();
</script>
{%- endmacro %}
""".replace("MATHJAX_CONFIG", MATHJAX_CONFIG)


def mathjax_static():
    """The folder of jupyter-server-mathjax's MathJax (MathJax.js, config/, jax/, fonts/)."""
    import jupyter_server_mathjax
    return os.path.join(os.path.dirname(jupyter_server_mathjax.__file__), "static")


def install_formgrade_mathjax(prefix=None):
    """Write formgrader's MathJax template override into the environment's Jupyter data folder
    (PREFIX/share/jupyter/nbconvert/templates/formgrade/mathjax.html.j2); returns its path."""
    path = os.path.join(prefix or sys.prefix, "share", "jupyter", "nbconvert", "templates", "formgrade",
                        "mathjax.html.j2")
    if not os.path.exists(path) or open(path, encoding="utf-8").read() != _FORMGRADE_MATHJAX:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(_FORMGRADE_MATHJAX)
        os.replace(path + ".tmp", path)
    return path


def _inline_mathjax():
    static = mathjax_static()
    parts = [open(os.path.join(static, "MathJax.js"), encoding="utf-8").read(),
             open(os.path.join(static, "config", f"{MATHJAX_CONFIG}.js"), encoding="utf-8").read()]
    # No web fonts (they would be files beside the page): MathJax uses the browser's fonts.
    # The settings of nbconvert's own MathJax block ($...$ inline, $$...$$ displayed), set before
    # MathJax starts (inline, it starts before the page's later configuration block is read).
    config = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({'
              'TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}}, '
              'tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], '
              '["\\\\[", "\\\\]"]], processEscapes: true, processEnvironments: true}, '
              'displayAlign: "center", messageStyle: "none", '
              '"HTML-CSS": {availableFonts: [], webFont: null, imageFont: null}});</script>')
    return config + "".join("<script>" + p.replace("</script", "<\\/script") + "</script>" for p in parts)


def offline_mathjax(html):
    """An HTML page (nbconvert's or nbgrader's feedback) with the CDN MathJax replaced by MathJax
    inline, so that its math renders with no network. Pages without the CDN tag are returned as is."""
    if not _CDN_TAG.search(html):
        return html
    inline = _inline_mathjax()
    return _CDN_TAG.sub(lambda m: inline, html, count=1)


def offline_mathjax_file(path):
    with open(path, encoding="utf-8") as f:
        html = f.read()
    new = offline_mathjax(html)
    if new != html:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(new)
        os.replace(path + ".tmp", path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m autograder.formgrader", description=__doc__.splitlines()[0])
    p.add_argument("--grading", help="the grading folder (default: $DEEPTRAIN_GRADING_DIR or grading/)")
    args = p.parse_args(argv)
    try:
        install_formgrade_mathjax()
        path = prepare(args.grading)
    except GradebookError as e:
        print(f"formgrader: {e}", file=sys.stderr)
        return 1
    print(f"formgrader: gradebook ready at {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
