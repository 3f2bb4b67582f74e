"""Whitening PCA with PLoM's conventions, built on scikit-learn's PCA."""

import numbers

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._validation import is_int

__all__ = ["WhiteningPCA"]


def _check_n_components(n_components):
    if n_components is None:
        return
    if is_int(n_components):
        if n_components < 1:
            raise ValueError(
                f"n_components={n_components!r} must be at least 1 (an int), a float "
                "in (0, 1) (an explained-variance fraction) or None (numerical rank)."
            )
        return
    if isinstance(n_components, numbers.Real) and 0.0 < n_components < 1.0:
        return
    raise ValueError(
        f"n_components={n_components!r} is not valid: use an int >= 1, a float in "
        "(0, 1) (the fraction of variance to keep; PLoM's tolerance is 1 - fraction) "
        "or None (all numerically non-null directions)."
    )


def _select_rank(explained_variance_ratio, rank, n_components, shape):
    """Number of components for scikit-learn's ``n_components`` semantics."""
    if n_components is None:
        return rank
    if isinstance(n_components, numbers.Integral):
        if n_components > rank:
            raise ValueError(
                f"n_components={n_components} exceeds the numerical rank {rank} of "
                f"the data (n_samples={shape[0]}, n_features={shape[1]}); directions "
                "beyond the rank carry no variance and cannot be whitened. Use "
                f"n_components <= {rank}, a variance fraction, or None."
            )
        return int(n_components)
    # Smallest r with err(r) = 1 - sum_{i<=r} mu_i / tr(C) <= 1 - n_components
    # (PLOM_SPEC step 1.3), never beyond the numerical rank.
    cumulative = np.cumsum(explained_variance_ratio[:rank])
    r = int(np.searchsorted(cumulative, n_components, side="left")) + 1
    return min(r, rank)


class WhiteningPCA(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Principal-component whitening with PLoM's conventions.

    Maps each row to :math:`\eta = \Lambda^{-1/2}\Phi^T(x - \bar x)`, whose sample
    covariance (N - 1 convention) is exactly the identity, the input PLoM's kernel
    density estimate and diffusion map expect. Built on
    :class:`sklearn.decomposition.PCA` (full SVD), with three differences that PLoM
    needs: directions with numerically zero variance are never kept (their
    :math:`\mu^{-1/2}` would explode), ``n_components`` larger than the numerical rank
    is an error rather than a silent cap, and columns that are constant at fit (for
    example the fill value of EMIT's water-vapour bands) are set aside and written
    back bit-exactly by :meth:`inverse_transform`.

    Parameters
    ----------
    n_components : int, float or None, default=None
        Number of components :math:`r`, with scikit-learn's meaning:

        - int: exactly that many; larger than the numerical rank is an error;
        - float in (0, 1): the smallest :math:`r` whose explained-variance fraction
          reaches ``n_components``, i.e. PLoM's truncation error
          :math:`\mathrm{err}(r) = 1 - \sum_{i \le r}\mu_i/\mathrm{tr}\,C \le
          1 - n\_components`;
        - None: the numerical rank (every direction with non-null variance).

    Attributes
    ----------
    n_components_ : int
        Whitened dimension :math:`r`.
    mean_ : ndarray of shape (n_variable_features,)
        Mean of the non-constant columns.
    components_ : ndarray of shape (n_components_, n_variable_features)
        Principal axes :math:`\Phi^T` (orthonormal rows, deterministic signs).
    explained_variance_ : ndarray of shape (n_components_,)
        Eigenvalues :math:`\mu_i` of the covariance (N - 1 convention).
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        :math:`\mu_i / \mathrm{tr}\,C`.
    singular_values_ : ndarray of shape (n_components_,)
        Singular values of the centred data.
    truncation_error_ : float
        :math:`\mathrm{err}(r)`, the fraction of the total variance discarded.
    rank_ : int
        Numerical rank of the centred non-constant columns.
    constant_features_ : ndarray of bool of shape (n_features_in_,)
        Columns whose values were all equal at fit.
    constant_values_ : ndarray of shape (n_constant_features,)
        Their values, restored bit-exactly by :meth:`inverse_transform`.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when they are all strings.

    See Also
    --------
    sklearn.decomposition.PCA : The underlying decomposition (``whiten=True`` with
        the N - 1 convention gives the same map on the kept components).
    AnisotropicDiffusionMap : The diffusion-map basis built on whitened data.

    Notes
    -----
    With the centred data :math:`X_c = U S V^T` (thin SVD),
    :math:`\mu_i = s_i^2/(N-1)`, :math:`\Phi = V_{:, :r}` and

    .. math::

        \eta = \Lambda^{-1/2}\Phi^T(x - \bar x), \qquad
        \frac{1}{N}\sum_j \eta^j = 0, \qquad
        \frac{1}{N-1}\sum_j \eta^j \eta^{jT} = I_r ,

    (PLoM_SPEC step 1 and fact F1). The numerical rank counts singular values above
    :math:`s_1 \max(N, n)\,\epsilon_{\mathrm{mach}}`, the tolerance of
    :func:`numpy.linalg.matrix_rank`. The inverse map
    :math:`x = \bar x + \Phi\Lambda^{1/2}\eta` is the exact inverse on the affine
    PCA subspace and an orthogonal projection onto it otherwise.

    Whitening is invariant to any invertible affine map of the input when all
    components are kept (PLoM_SPEC F12): per-band weights applied before a full-rank
    whitening cancel exactly.

    References
    ----------
    .. [1] C. Soize and R. Ghanem, "Data-driven probability concentration and
       sampling on manifold", J. Comput. Phys. 321 (2016) 242-258,
       :doi:`10.1016/j.jcp.2016.05.044`.

    Examples
    --------
    >>> import numpy as np
    >>> from skaidm import WhiteningPCA
    >>> X = np.random.default_rng(0).normal(size=(100, 5)) @ np.diag([5, 4, 3, 2, 1e-3])
    >>> pca = WhiteningPCA(n_components=0.99).fit(X)
    >>> pca.n_components_
    4
    >>> eta = pca.transform(X)
    >>> bool(np.allclose(eta.T @ eta / (len(X) - 1), np.eye(4)))
    True
    """

    def __init__(self, n_components=None):
        self.n_components = n_components

    def fit(self, X, y=None):
        """Fit the whitening on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : WhiteningPCA
            Fitted estimator.
        """
        _check_n_components(self.n_components)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n_samples = X.shape[0]
        constant = np.all(X[0] == X, axis=0)
        if constant.all():
            raise ValueError(
                "All features are constant (for example a single spectrum repeated): "
                "there is no variance to whiten. Fit on several distinct rows."
            )
        X_var = X[:, ~constant]
        pca = PCA(svd_solver="full").fit(X_var)
        s = pca.singular_values_
        rank = int(np.sum(s > s[0] * max(X_var.shape) * np.finfo(np.float64).eps))
        ratio = pca.explained_variance_ / pca.explained_variance_.sum()
        r = _select_rank(ratio, rank, self.n_components, X_var.shape)

        self.constant_features_ = constant
        self.constant_values_ = X[0, constant].copy()
        self.mean_ = pca.mean_
        self.components_ = pca.components_[:r].copy()
        # N - 1 convention (PLoM_SPEC F1), as scikit-learn's explained_variance_.
        self.explained_variance_ = s[:r] ** 2 / (n_samples - 1)
        self.explained_variance_ratio_ = ratio[:r]
        self.singular_values_ = s[:r].copy()
        self.truncation_error_ = float(max(1.0 - ratio[:r].sum(), 0.0))
        self.rank_ = rank
        self.n_components_ = r
        return self

    @property
    def _n_features_out(self):
        """Number of output features, used by ``get_feature_names_out``."""
        return self.n_components_

    def transform(self, X):
        """Whiten X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to whiten.

        Returns
        -------
        eta : ndarray of shape (n_samples, n_components_)
            Whitened rows.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        eta = (X[:, ~self.constant_features_] - self.mean_) @ self.components_.T
        eta /= np.sqrt(self.explained_variance_)
        return eta

    def inverse_transform(self, X):
        """Map whitened rows back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Whitened rows.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Rows on the affine PCA subspace; constant columns hold their fitted
            values exactly.
        """
        check_is_fitted(self)
        eta = check_array(X, dtype=np.float64)
        if eta.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {eta.shape[1]} columns, but WhiteningPCA.inverse_transform "
                f"expects n_components_={self.n_components_} whitened coordinates."
            )
        # One product onto all columns: the constant ones get zero weights and
        # their value as offset (no column scatter of the result).
        varying = ~self.constant_features_
        weights = np.zeros((self.n_components_, self.n_features_in_))
        weights[:, varying] = (
            np.sqrt(self.explained_variance_)[:, None] * self.components_
        )
        offset = np.empty(self.n_features_in_)
        offset[varying] = self.mean_
        offset[self.constant_features_] = self.constant_values_
        out = eta @ weights
        out += offset
        return out
