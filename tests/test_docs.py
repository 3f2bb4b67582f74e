"""The user guide cannot rot: every Python example in it runs, and Sphinx builds it.

Each Markdown page of ``docs/`` and the README is run as a user reading it would:
its ```` ```python ```` blocks in order, in one namespace per page, in an empty
temporary directory (files an example writes land there). A block written with
``>>>`` prompts is a doctest: its shown output is compared with the real one
(``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``). Any other block is executed as a
script. Other fences (``bash``, ``text``, ...) are not run; the README's shell
commands are tested in ``test_readme.py``.

``python docs/make_figures.py`` runs the worked example's page with the same
runner, in ``docs/img``, so the figures on the page are made by the code shown
on it.
"""

import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]

# A fenced block: the opening fence with its info string, the body, the same fence.
FENCE = re.compile(
    r"^(?P<fence>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# Modules of optional extras that a page may import; CI installs them all.
OPTIONAL = ("matplotlib", "dask", "distributed", "imblearn")


def python_blocks(path):
    """The ```python blocks of a page: ``(line number, source)`` in order."""
    text = Path(path).read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        info = match.group("info").strip().split()
        if info and info[0] in ("python", "py", "pycon"):
            lineno = text.count("\n", 0, match.start("body")) + 1
            blocks.append((lineno, match.group("body")))
    return blocks


def require(module):
    """Import an optional module; skip without it, except in CI (it must be there)."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def run_page(path, namespace=None):
    """Run a page's Python blocks in order in one namespace; returns the namespace.

    Raises AssertionError with doctest's report when a shown output differs, and
    lets any exception of a script block propagate (its traceback names
    ``page.md:line``).
    """
    path = Path(path)
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    parser = doctest.DocTestParser()
    for lineno, source in python_blocks(path):
        if re.search(r"^\s*>>> ", source, re.MULTILINE):
            test = parser.get_doctest(
                source, namespace, f"{path.name}:{lineno}", str(path), lineno - 1
            )
            report = []
            runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
            result = runner.run(test, out=report.append, clear_globs=False)
            namespace.update(test.globs)  # DocTest ran on a copy of the namespace
            if result.failed:
                raise AssertionError("".join(report))
        else:
            code = compile(source, f"{path}:{lineno}", "exec")
            exec(code, namespace)
    return namespace


def page_id(path):
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize(
    "page", [page for page in PAGES if python_blocks(page)], ids=page_id
)
def test_code_examples_run(page, tmp_path, monkeypatch):
    text = "\n".join(source for _, source in python_blocks(page))
    for module in OPTIONAL:
        if re.search(rf"^\s*(>>> )?(import|from) {module}\b", text, re.MULTILINE):
            require(module)
    if "matplotlib" in text or "skaidm.plotting" in text:
        require("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    try:
        # One BLAS/OpenMP thread: the same results (up to round-off), and immune
        # to oversubscription on a loaded machine.
        with threadpool_limits(1):
            run_page(page)
    finally:
        if "matplotlib" in sys.modules:
            import matplotlib.pyplot as plt

            plt.close("all")


def test_the_guide_has_checked_examples():
    # Not vacuous: the pages with code are found, and the worked example's shown
    # outputs are doctests.
    pages_with_code = {page.name for page in PAGES if python_blocks(page)}
    assert {"README.md", "worked-example.md", "quickstart.md"} <= pages_with_code
    prompts = sum(
        source.count(">>> ") for _, source in python_blocks(DOCS / "worked-example.md")
    )
    assert prompts >= 20


def test_fence_parser_finds_blocks_in_order(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nx = 1\n```\n\n```bash\nexit 1\n```\n\n"
        "````python\n>>> x + 1\n2\n````\n",
        encoding="utf-8",
    )
    assert python_blocks(page) == [(4, "x = 1\n"), (12, ">>> x + 1\n2\n")]
    namespace = run_page(page)
    assert namespace["x"] == 1
    # A name bound in a doctest block is seen by the next block.
    page.write_text("```python\n>>> y = 2\n```\n\n```python\nz = y + 1\n```\n")
    assert run_page(page)["z"] == 3


def test_a_wrong_shown_output_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\n>>> 1 + 1\n3\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="Expected:\n    3\nGot:\n    2"):
        run_page(page)


def test_sphinx_builds_the_guide_without_warnings(tmp_path):
    # -W: a broken cross-reference, a missing page or a malformed docstring fails.
    for module in ("sphinx", "myst_parser", "numpydoc"):
        require(module)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(tmp_path / "html"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    html = tmp_path / "html"
    for page in ("index", "worked-example", "api/plom", "data"):
        assert (html / f"{page}.html").is_file(), page


def documented_grid_keys():
    """Every ```step__param``` named in the guide and the README."""
    keys = set()
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        keys |= set(re.findall(r"`((?:scale|attention|plom|bounds)__\w+)`", text))
        keys |= set(re.findall(r'"((?:scale|attention|plom|bounds)__\w+)"', text))
    return sorted(keys)


def test_guide_names_grid_keys():
    assert {"plom__kernel_attention__alpha", "attention__alpha"} <= set(
        documented_grid_keys()
    )


@pytest.mark.parametrize("key", documented_grid_keys())
def test_documented_grid_key_exists(key):
    from skaidm import make_aidm_pipeline

    params = {}
    for variant in ("none", "A", "B"):
        pipe = make_aidm_pipeline(variant=variant, whitening=0.9, bounds=(0.0, 1.5))
        params.update(pipe.get_params())
    assert key in params


API_MODULES = (
    "pipeline",
    "plom",
    "diffusion",
    "whitening",
    "attention",
    "bounds",
    "conditional",
    "metrics",
    "datasets",
    "plotting",
)


@pytest.mark.parametrize("module", API_MODULES)
def test_api_reference_lists_every_public_name(module):
    # Each module page documents its __all__ (automodule); the summary tables of
    # the reference's index must name every public function and class too.
    index = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    assert f"   {module}\n" in index  # the module's page is in the toctree
    names = importlib.import_module(f"skaidm.{module}").__all__
    missing = [
        name
        for name in names
        if not name.isupper() and f"   {module}.{name}\n" not in index
    ]
    assert not missing, f"add to docs/api/index.rst: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_python_example_escapes_the_runner(page):
    # An indented fence (inside a list item) or a code-block directive would not
    # be run: every Python fence of a page must be one the runner finds.
    text = page.read_text(encoding="utf-8")
    fences = re.findall(r"^[ \t]*`{3,}\s*(?:python|py|pycon)\b", text, re.M)
    directives = re.findall(r"`{3,}\{code(?:-block|-cell)?\}\s*(?:python|py)", text)
    assert len(fences) == len(python_blocks(page))
    assert not directives
