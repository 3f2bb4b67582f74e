"""Seeded synthetic sets on which PLoM's published results are defined."""

import numbers

import numpy as np

__all__ = ["make_correlated_gaussian", "make_helix"]


def _generator(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"random_state={random_state!r} must be None, an int or a "
        "numpy.random.Generator."
    )


def make_helix(n_samples=200, *, noise=0.05, random_state=None):
    r"""A noisy helix in 3-D: two turns with unit radius and unit pitch.

    .. math::

        t \sim U(0, 4\pi), \qquad
        x = (\cos t, \sin t, t / (2\pi)) + \sigma\,\mathcal N(0, I_3).

    Parameters
    ----------
    n_samples : int, default=200
    noise : float, default=0.05
        :math:`\sigma`.
    random_state : int, numpy.random.Generator or None, default=None
        A Generator is used (and advanced) as it is, so that several sets can be
        drawn from one stream.

    Returns
    -------
    X : ndarray of shape (n_samples, 3)

    See Also
    --------
    make_correlated_gaussian : The other set of PLoM's reference results.

    Notes
    -----
    The specification's reference sets are drawn from one stream, helix first::

        rng = np.random.default_rng(0)
        helix = make_helix(random_state=rng)                # N = 200, r = 3
        gaussian = make_correlated_gaussian(random_state=rng)  # N = 300, r = 50

    On them Soize's gap rule gives epsilon 5.11 and 54.7 (0.1 gap ratio, m = r + 1).

    Examples
    --------
    >>> from skaidm.datasets import make_helix
    >>> make_helix(random_state=0).shape
    (200, 3)
    """
    rng = _generator(random_state)
    t = rng.uniform(0.0, 4.0 * np.pi, n_samples)
    X = np.c_[np.cos(t), np.sin(t), t / (2.0 * np.pi)]
    X += noise * rng.standard_normal((n_samples, 3))
    return X


def make_correlated_gaussian(
    n_samples=300, n_features=50, *, rho=0.9, random_state=None
):
    r"""Gaussian rows with the covariance :math:`C_{ij} = \rho^{|i - j|}`.

    Rows are :math:`x = L z` with :math:`z \sim \mathcal N(0, I)` and :math:`L` the
    Cholesky factor of :math:`C`.

    Parameters
    ----------
    n_samples : int, default=300
    n_features : int, default=50
    rho : float, default=0.9
        Correlation of neighbouring features, in (-1, 1).
    random_state : int, numpy.random.Generator or None, default=None
        A Generator is used (and advanced) as it is.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)

    See Also
    --------
    make_helix : The other set of PLoM's reference results (and how both are drawn).

    Examples
    --------
    >>> from skaidm.datasets import make_correlated_gaussian
    >>> make_correlated_gaussian(300, 285, rho=0.98, random_state=5).shape
    (300, 285)
    """
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho={rho!r} must be in (-1, 1).")
    rng = _generator(random_state)
    idx = np.arange(n_features)
    C = rho ** np.abs(idx[:, None] - idx[None, :])
    return rng.standard_normal((n_samples, n_features)) @ np.linalg.cholesky(C).T
