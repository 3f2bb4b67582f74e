"""Make the figures of the worked example: ``python docs/make_figures.py``.

Runs the Python examples of ``docs/worked-example.md``, exactly as the test suite
does (``tests/test_docs.py``), with ``docs/img`` as the working directory, so the
``guide-*.png`` files the page shows are written by the code the page shows.
Needs the plotting extra (``pip install ".[plotting]"``).
"""

import importlib.util
import os
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PAGE = DOCS / "worked-example.md"


def _runner():
    path = DOCS.parent / "tests" / "test_docs.py"
    spec = importlib.util.spec_from_file_location("skaidm_test_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_page


def main():
    import matplotlib

    matplotlib.use("Agg")
    run_page = _runner()
    start = time.perf_counter()
    os.chdir(DOCS / "img")
    run_page(PAGE)
    for path in sorted((DOCS / "img").glob("guide-*.png")):
        print(f"wrote {path.relative_to(DOCS.parent)}")
    print(f"{PAGE.name} ran in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
