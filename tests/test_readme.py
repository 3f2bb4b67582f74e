"""The README's two commands are the ones that are tested and that CI runs.

``pip install . && python -m skaidm``: the main job itself runs in
``test_main.py`` (``python -m skaidm`` in a subprocess, from an empty directory so
that the installed package runs); here we check that the README shows exactly
that command and that the test exists. ``pip install ".[test]" && pytest``: CI
(``.ci/run``) ends with exactly this line, and ``pytest`` without arguments runs
this suite (setup.cfg's ``testpaths``).
"""

import configparser
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

MAIN_JOB = "pip install . && python -m skaidm"
TEST_COMMAND = 'pip install ".[test]" && pytest'


def quick_start_commands():
    """The shell blocks of the README's "Quick start" section, in order."""
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", README, re.S | re.M)
    assert section, "README.md has no '## Quick start' section"
    return [
        block.strip()
        for block in re.findall(r"^```bash\n(.*?)^```", section.group(1), re.S | re.M)
    ]


def test_quick_start_shows_exactly_the_two_commands():
    assert quick_start_commands() == [MAIN_JOB, TEST_COMMAND]


def test_ci_ends_with_the_readme_test_command():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[-1] == TEST_COMMAND


def test_the_main_job_command_is_tested():
    install, run = (shlex.split(part) for part in MAIN_JOB.split("&&"))
    assert install == ["pip", "install", "."]
    assert run == ["python", "-m", "skaidm"]
    # test_main.py runs exactly `python -m skaidm`, with this interpreter, in a
    # subprocess: the README's first command is covered there, not repeated here.
    source = (ROOT / "tests" / "test_main.py").read_text(encoding="utf-8")
    assert "def test_python_m_skaidm_runs_on_the_built_in_data(" in source
    assert '[sys.executable, "-m", "skaidm"]' in source
    assert (ROOT / "skaidm" / "__main__.py").is_file()


def test_the_test_command_runs_this_suite():
    # `pip install ".[test]"` brings pytest, and a bare `pytest` in the repository
    # root collects the tests and the doctests of the package.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    test_extra = re.search(r"^test = \[(.*)\]$", pyproject, re.M)
    assert test_extra, "pyproject.toml has no test extra"
    assert re.search(r'"pytest\b', test_extra.group(1))
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    testpaths = config["tool:pytest"]["testpaths"].split()
    assert "tests" in testpaths
    assert "--doctest-modules" in config["tool:pytest"]["addopts"].split()


def test_readme_links_to_files_that_exist():
    links = re.findall(r"\]\(((?:docs|benchmarks|skaidm)/[^)#\s]+)", README)
    assert links, "README.md links to no file of the repository"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing
