"""Invertible elementwise maps from a bounded interval onto the real line."""

import numbers

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

__all__ = ["BoundedTransform"]

# Largest finite float64: the inverse of a one-sided bound saturates here instead of
# overflowing to infinity (exp overflows for arguments above ~709.78).
_FLOAT_MAX = np.finfo(np.float64).max


def _check_bound(value, name):
    """A bound is None or a finite real number (not a bool); returns a float."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
    ):
        raise ValueError(
            f"{name}={value!r} must be a finite real number or None; use None for "
            "no bound on that side."
        )
    return float(value)


def _check_bounds(low, high):
    """Validate the pair of bounds; returns them as floats (or None)."""
    low = _check_bound(low, "low")
    high = _check_bound(high, "high")
    if low is not None and high is not None and not low < high:
        raise ValueError(
            f"low={low!r} must be smaller than high={high!r}: the data must lie in "
            "the open interval (low, high)."
        )
    if low is not None and high is not None and not np.isfinite(high - low):
        raise ValueError(
            f"high - low = {high - low!r} overflows for low={low!r}, high={high!r}; "
            "use bounds whose difference is a finite float."
        )
    return low, high


def _describe(low, high):
    """The open interval as text, with infinite ends where a bound is None."""
    low_text = "-inf" if low is None else repr(low)
    high_text = "inf" if high is None else repr(high)
    return f"({low_text}, {high_text})"


def _forward(X, low, high):
    """The map onto the real line, :math:`t = \\phi(x)`, elementwise.

    Parameters
    ----------
    X : ndarray
        Values strictly inside ``(low, high)``.
    low, high : float or None
        Bounds; None is no bound on that side.

    Returns
    -------
    T : ndarray
        ``log(x - low)``, ``log(x - low) - log(high - x)`` (the logit of
        ``(x - low) / (high - low)``), ``-log(high - x)`` or, without bounds, a
        copy of ``x``.
    """
    if low is None and high is None:
        return X.copy()
    if high is None:
        return np.log(X - low)
    if low is None:
        return -np.log(high - X)
    # log(a) - log(b) rather than scipy.special.logit((x - low) / (high - low)):
    # a = x - low and b = high - x are each computed with one rounding, whereas
    # logit forms 1 - p from the rounded ratio p and loses the relative accuracy of
    # the distance to the upper bound.
    return np.log(X - low) - np.log(high - X)


def _backward(T, low, high):
    """The exact inverse :math:`x = \\phi^{-1}(t)`, elementwise, for any finite t.

    Parameters
    ----------
    T : ndarray
        Finite values.
    low, high : float or None
        Bounds; None is no bound on that side.

    Returns
    -------
    X : ndarray
        Values in ``[low, high]``; strictly inside unless the distance to a bound is
        below half the spacing of floats at the bound (float saturation).
    """
    if low is None and high is None:
        return T.copy()
    with np.errstate(over="ignore"):
        if high is None:
            # exp overflows for t > ~709.78: saturate at the largest finite float.
            return np.minimum(low + np.exp(T), _FLOAT_MAX)
        if low is None:
            return np.maximum(high - np.exp(-T), -_FLOAT_MAX)
    # Each half uses the expit of a non-positive argument, so the computed distance
    # to the nearer bound, width * expit(-|t|), keeps full relative accuracy.
    width = high - low
    return np.where(T <= 0, low + width * expit(T), high - width * expit(-T))


class BoundedTransform(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    r"""Map bounded data onto the real line with a log or logit, and back.

    An invertible elementwise transform meant as the *first* step of a generative
    pipeline: the model works on the real line, and whatever it generates is
    decoded by :meth:`inverse_transform` into the open interval ``(low, high)``, so
    generated reflectance is never negative (nor above ``high``) by construction.
    With a lower bound only it is a log, with both bounds a logit, with an upper
    bound only a negated log of the distance to it (so the map is increasing in
    every case), and without bounds the identity.

    Data outside the open interval is an error (the map is not defined there):
    clip it or widen the bounds. Columns that are constant at fit, such as the fill
    value of EMIT's water-vapour bands, are exempt: they are neither transformed nor
    checked against the bounds, and :meth:`inverse_transform` writes their fitted
    values back bit-exactly.

    Parameters
    ----------
    low : float or None, default=None
        Lower bound, finite; ``None`` means no lower bound. For reflectance use
        ``low=0.0``.
    high : float or None, default=None
        Upper bound, finite and larger than ``low``; ``None`` means no upper
        bound. The default, no bound on either side, is the identity (like
        :class:`~sklearn.preprocessing.FunctionTransformer` without a function):
        a bound of 0 cannot be the default, since the log is undefined at 0 and
        scikit-learn's estimator checks feed data with negative values and zeros.

    Attributes
    ----------
    constant_features_ : ndarray of bool of shape (n_features_in_,)
        Columns whose values were all equal at fit; they pass through unchanged.
    constant_values_ : ndarray of shape (n_constant_features,)
        Their values, restored bit-exactly by :meth:`inverse_transform`.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.preprocessing.FunctionTransformer : Arbitrary elementwise functions,
        without bound checks or constant-column handling.
    make_aidm_pipeline : Puts this step first with ``bounds=(low, high)``.

    Notes
    -----
    With :math:`a` the lower bound and :math:`b` the upper bound, each
    non-constant column is mapped by

    .. math::

        t = \phi(x) =
        \begin{cases}
            \log(x - a) & \text{lower bound only}, \\
            \log\dfrac{x - a}{b - x} & \text{both bounds}, \\
            -\log(b - x) & \text{upper bound only},
        \end{cases}
        \qquad
        x = \phi^{-1}(t) =
        \begin{cases}
            a + e^{t}, \\
            a + (b - a)\,\sigma(t), \\
            b - e^{-t},
        \end{cases}

    where :math:`\sigma(t) = 1/(1 + e^{-t})` is the logistic function
    (:func:`scipy.special.expit`; for :math:`t > 0` the inverse is computed as
    :math:`b - (b - a)\,\sigma(-t)`, the same value with full relative accuracy of
    the distance to :math:`b`), and the logit as :math:`\log(x - a) - \log(b - x)`
    for the same reason. :math:`\phi` is a smooth increasing bijection from
    :math:`(a, b)` onto :math:`\mathbb{R}`, so every finite :math:`t` decodes to a
    point of the interval. In floating point, :math:`\phi^{-1}(t)` rounds to the
    bound itself once the distance to it falls below half a unit in the last place
    of the bound (for example :math:`e^{t} = 0` for :math:`t < -745` when
    :math:`a = 0`, or :math:`\sigma(t) = 1` for :math:`t > 37`), and a one-sided
    inverse saturates at the largest finite float instead of overflowing. Such
    :math:`t` lie far outside anything fitted on data in the interval.

    A density on the transformed space corresponds to a density on the original
    space times the Jacobian :math:`|\phi'(x)|` (for the log, :math:`1/(x - a)`), so
    log-likelihoods computed after this step are not log-likelihoods of the
    original data. Generation is unaffected: samples are simply decoded.

    Examples
    --------
    >>> import numpy as np
    >>> from skaidm import BoundedTransform
    >>> X = np.array([[0.1, 0.5], [0.2, 0.7], [0.4, 0.6]])
    >>> bt = BoundedTransform(low=0.0, high=1.0).fit(X)
    >>> np.round(bt.transform(X), 3)
    array([[-2.197,  0.   ],
           [-1.386,  0.847],
           [-0.405,  0.405]])
    >>> bool(np.allclose(bt.inverse_transform(bt.transform(X)), X))
    True
    >>> x = bt.inverse_transform([[-30.0, 30.0]])  # any real maps into (0, 1)
    >>> bool(np.all((0.0 < x) & (x < 1.0)))
    True
    """

    def __init__(self, low=None, high=None):
        self.low = low
        self.high = high

    def _check_inside(self, X, low, high):
        """Raise a ValueError if a non-constant value is outside (low, high)."""
        variable = ~self.constant_features_
        inside = np.ones(X.shape, dtype=bool)
        if low is not None:
            inside[:, variable] &= X[:, variable] > low
        if high is not None:
            inside[:, variable] &= X[:, variable] < high
        if inside.all():
            return
        rows, cols = np.nonzero(~inside)
        i, j = int(rows[0]), int(cols[0])
        message = (
            f"{rows.size} value(s) of X lie outside the open interval "
            f"{_describe(low, high)} of BoundedTransform(low={self.low!r}, "
            f"high={self.high!r}); the first is X[{i}, {j}] = {float(X[i, j])!r}."
        )
        raise ValueError(
            f"{message} Widen bounds=(low, high) or clip the data into the open "
            "interval; a column that is constant at fit (such as a fill value) is "
            "exempt."
        )

    def fit(self, X, y=None):
        """Record the constant columns and check the others against the bounds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; every non-constant column strictly inside
            ``(low, high)``.
        y : None
            Ignored.

        Returns
        -------
        self : BoundedTransform
            Fitted transformer.
        """
        low, high = _check_bounds(self.low, self.high)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        constant = np.all(X[0] == X, axis=0)
        if constant.all():
            # Constant columns are exempt from the bounds, so the fitted transform
            # would be the identity: almost surely not what was meant.
            raise ValueError(
                "All features are constant at fit (for example a single spectrum "
                "repeated), so none would be transformed or checked against the "
                "bounds. Fit on several distinct rows."
            )
        self.constant_features_ = constant
        self.constant_values_ = X[0, self.constant_features_].copy()
        self._check_inside(X, low, high)
        return self

    def transform(self, X):
        """Map the non-constant columns onto the real line.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data; every non-constant column strictly inside ``(low, high)``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            Transformed data; constant columns are copied unchanged.
        """
        check_is_fitted(self)
        low, high = _check_bounds(self.low, self.high)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        self._check_inside(X, low, high)
        out = X.copy()
        variable = ~self.constant_features_
        out[:, variable] = _forward(X[:, variable], low, high)
        return out

    def inverse_transform(self, X):
        """Map real values back into the interval.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Transformed data: any finite real numbers.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Data in ``(low, high)`` (see the Notes on float saturation at the
            bounds); constant columns hold their fitted values exactly, whatever
            the input holds there.
        """
        check_is_fitted(self)
        low, high = _check_bounds(self.low, self.high)
        T = check_array(X, dtype=np.float64)
        if T.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {T.shape[1]} features, but BoundedTransform is expecting "
                f"{self.n_features_in_} features as input."
            )
        out = np.empty_like(T)
        variable = ~self.constant_features_
        out[:, variable] = _backward(T[:, variable], low, high)
        out[:, self.constant_features_] = self.constant_values_
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
