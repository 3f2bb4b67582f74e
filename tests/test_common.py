"""Project-wide contracts: scikit-learn's estimator checks and the public names."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import skaidm
from skaidm import (
    AnisotropicDiffusionMap,
    AttentionPreconditioner,
    BoundedTransform,
    PLoMSampler,
    WhiteningPCA,
)

ESTIMATORS = [
    AttentionPreconditioner(),
    AttentionPreconditioner(weights=np.ones(1)),
    BoundedTransform(),  # no bounds: the identity (see its docstring)
    # The log and logit paths, with bounds that hold every value scikit-learn's checks
    # feed (fit data spans about -3.4 to 103; a bound of 0 would fail them).
    BoundedTransform(low=-50.0),
    BoundedTransform(low=-50.0, high=500.0),
    WhiteningPCA(),
    AnisotropicDiffusionMap(),
    PLoMSampler(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_all_names_exist():
    for name in skaidm.__all__:
        assert hasattr(skaidm, name), name
    assert skaidm.__version__


@pytest.mark.parametrize("module", ["attention", "datasets", "metrics"])
def test_submodules_are_public(module):
    assert module in skaidm.__all__
