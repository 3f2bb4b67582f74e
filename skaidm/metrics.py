"""Fidelity of generated rows against real ones, and scorers for model selection."""

import numbers

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_array

from ._kernels import squared_distances
from ._validation import is_int
from .pipeline import sample

__all__ = [
    "band_mean_error",
    "band_std_error",
    "energy_distance",
    "generation_scorer",
    "maximum_mean_discrepancy",
    "memorisation_ratio",
    "two_sample_auc",
]


def _check_pair(X, Y):
    X = check_array(X, dtype=np.float64, input_name="X")
    Y = check_array(Y, dtype=np.float64, input_name="Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features and Y has {Y.shape[1]}: both sets must "
            "be in the same space (e.g. spectra in reflectance units)."
        )
    for name, A in (("X", X), ("Y", Y)):
        if A.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 rows, got {A.shape[0]}.")
    return X, Y


def _mean_off_diagonal(D):
    n = D.shape[0]
    return (D.sum() - np.trace(D)) / (n * (n - 1))


def energy_distance(X, Y):
    r"""Squared energy distance between two samples (lower is better).

    .. math::

        D^2 = 2\,\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|,

    with the within-sample expectations as U-statistics (pairs of distinct rows),
    so the estimate is unbiased and can be slightly negative when the two samples
    come from one distribution (Szekely & Rizzo 2013,
    :doi:`10.1016/j.jspi.2013.03.018`).

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    Y : array-like of shape (n_samples_Y, n_features)

    Returns
    -------
    distance : float

    Examples
    --------
    >>> import numpy as np
    >>> from skaidm.metrics import energy_distance
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(300, 2)), rng.normal(1.0, size=(300, 2))
    >>> round(energy_distance(X, Y), 1)
    0.8
    """
    X, Y = _check_pair(X, Y)
    xy = np.sqrt(squared_distances(X, Y)).mean()
    xx = _mean_off_diagonal(np.sqrt(squared_distances(X)))
    yy = _mean_off_diagonal(np.sqrt(squared_distances(Y)))
    return float(2.0 * xy - xx - yy)


def maximum_mean_discrepancy(X, Y, *, bandwidth=None):
    r"""Squared MMD with a Gaussian kernel, median heuristic (lower is better).

    Unbiased estimate of :math:`\mathrm{MMD}^2 = \mathbb E k(X, X') + \mathbb E
    k(Y, Y') - 2\,\mathbb E k(X, Y)` with :math:`k(x, y) = \exp(-\|x - y\|^2 /
    (2\sigma^2))` and, by default, :math:`\sigma` the median distance between
    distinct rows of the pooled sample (Gretton et al. 2012, JMLR 13:723-773).

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    Y : array-like of shape (n_samples_Y, n_features)
    bandwidth : float, default=None
        :math:`\sigma > 0`; ``None`` means the median heuristic.

    Returns
    -------
    mmd2 : float
    """
    if bandwidth is not None and not (
        isinstance(bandwidth, numbers.Real) and 0 < bandwidth < np.inf
    ):
        raise ValueError(
            f"bandwidth={bandwidth!r} must be a positive finite number, or None for "
            "the median heuristic."
        )
    X, Y = _check_pair(X, Y)
    Dxx, Dyy, Dxy = squared_distances(X), squared_distances(Y), squared_distances(X, Y)
    if bandwidth is None:
        pooled = np.concatenate(
            [
                Dxx[np.triu_indices_from(Dxx, 1)],
                Dyy[np.triu_indices_from(Dyy, 1)],
                Dxy.ravel(),
            ]
        )
        bandwidth = float(np.sqrt(np.median(pooled)))
        if bandwidth == 0.0:
            bandwidth = 1.0
    gamma = 1.0 / (2.0 * bandwidth**2)
    kxx = _mean_off_diagonal(np.exp(-gamma * Dxx))
    kyy = _mean_off_diagonal(np.exp(-gamma * Dyy))
    kxy = np.exp(-gamma * Dxy).mean()
    return float(kxx + kyy - 2.0 * kxy)


def two_sample_auc(X, Y, *, classifier=None, n_splits=5, random_state=0):
    """Classifier two-sample test: cross-validated ROC AUC of telling X from Y.

    0.5 means a classifier cannot tell the samples apart; 1 means it always can.
    The larger sample is subsampled to the size of the smaller so chance is 0.5,
    and the AUC is computed from out-of-fold probabilities (stratified K-fold)
    (Lopez-Paz & Oquab 2017, arXiv:1610.06545).

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    Y : array-like of shape (n_samples_Y, n_features)
    classifier : classifier, default=None
        Any scikit-learn classifier with ``predict_proba``; ``None`` means a
        ``RandomForestClassifier(n_estimators=200)``.
    n_splits : int, default=5
    random_state : int, default=0
        Seeds the subsampling, the folds and the default classifier.

    Returns
    -------
    auc : float
    """
    X, Y = _check_pair(X, Y)
    rng = np.random.default_rng(random_state)
    n = min(len(X), len(Y))
    X = X[rng.choice(len(X), n, replace=False)]
    Y = Y[rng.choice(len(Y), n, replace=False)]
    if classifier is None:
        classifier = RandomForestClassifier(n_estimators=200, random_state=random_state)
    data = np.concatenate([X, Y])
    labels = np.r_[np.zeros(n), np.ones(n)]
    cv = StratifiedKFold(
        n_splits=min(n_splits, n), shuffle=True, random_state=random_state
    )
    proba = cross_val_predict(classifier, data, labels, cv=cv, method="predict_proba")
    return float(roc_auc_score(labels, proba[:, 1]))


def band_mean_error(X, Y):
    """Root mean square, over features, of the difference of per-feature means."""
    X, Y = _check_pair(X, Y)
    return float(np.sqrt(np.mean((X.mean(axis=0) - Y.mean(axis=0)) ** 2)))


def band_std_error(X, Y):
    """Root mean square, over features, of the difference of per-feature stds."""
    X, Y = _check_pair(X, Y)
    diff = X.std(axis=0, ddof=1) - Y.std(axis=0, ddof=1)
    return float(np.sqrt(np.mean(diff**2)))


def memorisation_ratio(X_generated, X_train, X_test):
    """Median over generated rows of d(nearest training row) / d(nearest held-out row).

    Values well below the same ratio computed for genuinely new rows mean that the
    generator copies its training rows; compare generators at equal training and
    held-out sets (the ratio depends on their sizes).

    Parameters
    ----------
    X_generated : array-like of shape (n_generated, n_features)
    X_train : array-like of shape (n_train, n_features)
    X_test : array-like of shape (n_test, n_features)

    Returns
    -------
    ratio : float
    """
    G, T = _check_pair(X_generated, X_train)
    _, H = _check_pair(G, X_test)
    d_train = np.sqrt(squared_distances(G, T).min(axis=1))
    d_test = np.sqrt(squared_distances(G, H).min(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = d_train / d_test
    # A row equal to a held-out row has ratio +inf (the opposite of a copy) and
    # counts; only rows equal to both a training and a held-out row (0 / 0) are
    # undefined and left out.
    return float(np.median(ratio[~np.isnan(ratio)]))


_METRICS = {
    "energy": energy_distance,
    "mmd": maximum_mean_discrepancy,
    "auc": two_sample_auc,
    "band_mean": band_mean_error,
    "band_std": band_std_error,
}


def generation_scorer(metric="energy", *, n_samples=1000, random_state=0):
    """A scorer for ``GridSearchCV`` that judges generated rows against held-out ones.

    The scorer samples ``n_samples`` rows (seed ``random_state``) from the fitted
    pipeline with :func:`skaidm.sample`, i.e. decoded to the units of the
    pipeline's input, and compares them with the held-out fold. Scores follow
    scikit-learn's "greater is better": distances are negated, and the two-sample
    AUC scores ``-|AUC - 0.5|``. Unlike ``score``, whose log-densities live in
    each model's own whitened space, these scores are comparable across alpha,
    epsilon and variants.

    Parameters
    ----------
    metric : {"energy", "mmd", "auc", "band_mean", "band_std"} or callable, \
            default="energy"
        A callable takes ``(X_generated, X_heldout)`` and returns a float where
        lower is better.
    n_samples : int, default=1000
    random_state : int, default=0

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``.

    Examples
    --------
    >>> from skaidm.metrics import generation_scorer
    >>> scorer = generation_scorer("energy", n_samples=500)
    """
    if callable(metric):
        function = metric
    elif metric in _METRICS:
        function = _METRICS[metric]
    else:
        raise ValueError(
            f"metric={metric!r} must be a callable or one of {sorted(_METRICS)}."
        )
    if not (is_int(n_samples) and n_samples >= 2):
        raise ValueError(f"n_samples={n_samples!r} must be an int >= 2.")

    def scorer(estimator, X, y=None):
        X_generated = sample(estimator, n_samples, random_state=random_state)
        value = function(X_generated, check_array(X, dtype=np.float64))
        return -abs(value - 0.5) if function is two_sample_auc else -value

    scorer.__name__ = f"generation_scorer_{getattr(function, '__name__', 'metric')}"
    return scorer
