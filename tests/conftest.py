"""Shared fixtures: the synthetic sets of PLOM_SPEC section 7 and seeds."""

import os

# scikit-learn's array-API estimator check runs only when SciPy's array API support
# is on; it must be set before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest

from skaidm.datasets import make_correlated_gaussian, make_helix


def make_spec_sets():
    """Helix (200 x 3) and correlated Gaussian (300 x 50), PLOM_SPEC section 7.

    Both come from one ``default_rng(0)`` stream, in this order, exactly as the
    specification defines them so anyone can regenerate the published numbers.
    """
    rng = np.random.default_rng(0)
    return make_helix(random_state=rng), make_correlated_gaussian(random_state=rng)


@pytest.fixture(scope="session")
def spec_sets():
    return make_spec_sets()


@pytest.fixture(scope="session")
def helix(spec_sets):
    return spec_sets[0]


@pytest.fixture(scope="session")
def correlated_gaussian(spec_sets):
    return spec_sets[1]


@pytest.fixture
def global_random_seed():
    """Seed of randomized tests: 42, or SKAIDM_TESTS_GLOBAL_RANDOM_SEED."""
    return int(os.environ.get("SKAIDM_TESTS_GLOBAL_RANDOM_SEED", "42"))


@pytest.fixture
def rng(global_random_seed):
    return np.random.default_rng(global_random_seed)
