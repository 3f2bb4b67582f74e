"""The package namespace: lazy public names, nothing heavy imported up front."""

import subprocess
import sys

import pytest

import skaidm


def test_import_does_not_load_scikit_learn():
    # A fresh interpreter: `import skaidm` (and the command's start-up) must not
    # pay for scikit-learn and SciPy before a public name is used.
    code = (
        "import sys, skaidm, skaidm.cli; "
        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", skaidm.__all__)
def test_every_public_name_resolves(name):
    value = getattr(skaidm, name)
    assert value is getattr(skaidm, name)
    assert name in dir(skaidm)
    if name != "__version__" and not isinstance(value, type(skaidm)):
        assert value.__module__.startswith("skaidm.")


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'PLoM'"):
        skaidm.PLoM  # noqa: B018


def test_star_import_gives_the_public_names():
    namespace = {}
    exec("from skaidm import *", namespace)
    assert set(skaidm.__all__) <= set(namespace)
    assert namespace["PLoMSampler"] is skaidm.plom.PLoMSampler
