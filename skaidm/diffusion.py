"""Diffusion-map basis with an anisotropic (attention-weighted) Gaussian kernel."""

import logging
import numbers
import warnings

import numpy as np
import scipy.linalg
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._kernels import (
    NULL_EIGENVALUE,
    apply_metric,
    choose_eigen_solver,
    gap_ratio,
    kernel_dtype,
    knn_epsilon,
    median_pair_distance,
    nystrom_average,
    projection_errors,
    search_gap_epsilon,
    squared_distances,
    symmetric_diffusion_operator,
    top_eigenpairs,
)
from ._validation import is_int, is_real

__all__ = ["AnisotropicDiffusionMap", "DiffusionMapWarning"]

logger = logging.getLogger(__name__)

EPSILON_RULES = ("auto", "gap", "knn")
N_COMPONENTS_RULES = ("auto", "gap", "reconstruction")
EIGEN_SOLVERS = ("auto", "dense", "arpack")

# n_landmarks="auto": the dense kernel up to this many rows, AUTO_N_LANDMARKS
# landmarks above. Measured on two cores (docs/performance.md, docs/landmarks.md):
# the dense fit of 20000 x 285 rows (r = 50) takes about 60 s and 3.4 GB; two float32
# N x N matrices exceed 8 GB past about 40000 rows.
AUTO_DENSE_MAX_ROWS = 20000
AUTO_N_LANDMARKS = 20000

# Fewest landmarks accepted (the diffusion map needs three rows, as fit does).
MIN_LANDMARKS = 3

# The gap search scans epsilon from the knn bandwidth upwards and gives up this many
# times the median squared distance / 4 above it: at that point the kernel is linear
# in d^2 to four digits, so a whitened isotropic cloud has long shown its plateau.
GAP_SEARCH_SPAN = 1e4

# Whitened-input test of the "auto" rules: mean 0 and identity covariance to this
# absolute tolerance (whitening reaches ~1e-12; anything else is far off).
WHITENED_ATOL = 1e-6

# Rows processed at once by the Nystrom extension, in transform and in the landmark
# fit (bounds its memory to TRANSFORM_BLOCK x n_landmarks doubles).
TRANSFORM_BLOCK = 1024


class DiffusionMapWarning(UserWarning):
    """A bandwidth or dimension rule found nothing and another rule was used."""


def _is_whitened(X):
    n = X.shape[0]
    mean = X.mean(axis=0)
    cov = (X - mean).T @ (X - mean) / (n - 1)
    return bool(
        np.all(np.abs(mean) <= WHITENED_ATOL)
        and np.allclose(cov, np.eye(X.shape[1]), rtol=0.0, atol=WHITENED_ATOL)
    )


def _flip_signs(vectors):
    """Deterministic signs: the entry of largest magnitude of each column > 0."""
    idx = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[idx, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


class AnisotropicDiffusionMap(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    r"""Diffusion-map basis of PLoM with an optional anisotropic kernel metric.

    Builds the reduced basis :math:`g = \lambda^\kappa \psi` of Soize & Ghanem's
    Probabilistic Learning on Manifolds [1]_ from the Gaussian kernel
    :math:`k(x, x') = \exp(-d(x, x')^2 / (4\varepsilon))` and its symmetric
    normalisation. The distance :math:`d` is Euclidean, per-feature weighted or
    :math:`\|R(x - x')\|` for a factor :math:`R`; the last form carries the
    attention metric of AIDM's Option B into the kernel without touching the data.
    The bandwidth :math:`\varepsilon` and the number :math:`m` of basis vectors
    (constant included) are given or chosen by the named rules below, and the rule
    actually used is recorded.

    Parameters
    ----------
    epsilon : float or {"auto", "gap", "knn"}, default="auto"
        Kernel bandwidth in the paper's convention :math:`\exp(-d^2/(4\varepsilon))`.

        - ``"gap"`` (Soize's rule): with :math:`m = r + 1` (:math:`r` = number of
          input features), the smallest :math:`\varepsilon` with
          :math:`\lambda_{m+1}/\lambda_m \le` ``gap_threshold``, found by a bracketed
          search in :math:`\log\varepsilon` on eigenvalues only (geometric scan
          upwards from the ``"knn"`` value, then bisection to 0.1%). If no bandwidth
          up to :math:`10^4\max(\mathrm{median}\,d^2, 4\varepsilon_{knn})/4` has
          that gap (it never appears for a strongly anisotropic metric), the
          ``"knn"`` rule is used instead, with a :class:`DiffusionMapWarning`.
        - ``"knn"`` (the AIDM note): one quarter of the median, over rows, of the
          squared distance to the ``n_neighbors``-th nearest neighbour, in the
          metric of the kernel. When that median is 0 (most rows have more than
          ``n_neighbors`` exact duplicates) the median over all pairs of distinct
          rows is used, with a warning.
        - ``"auto"``: ``"gap"`` when the kernel is isotropic (``metric=None``) and
          the input is whitened (zero mean and identity covariance to 1e-6),
          ``"knn"`` otherwise.
    n_components : int or {"auto", "gap", "reconstruction"}, default="auto"
        Number :math:`m` of basis vectors, the constant one included.

        - ``"gap"``: :math:`m = r + 1` (Soize & Ghanem 2020), meant to be paired
          with ``epsilon="gap"``.
        - ``"reconstruction"``: the smallest :math:`m` whose basis reconstructs the
          training data to ``reconstruction_tol``:
          :math:`\|X_c - \Pi_m X_c\|_F / \|X_c\|_F \le` ``reconstruction_tol``.
        - ``"auto"``: ``"gap"`` when the bandwidth came from the gap rule,
          ``"reconstruction"`` otherwise (including a float ``epsilon``).
    kappa : float, default=1
        Exponent of the eigenvalues in :math:`g = \lambda^\kappa\psi`. The paper uses
        1, Soize's 2024 code 0. Generated samples depend only on the span of
        :math:`g`, hence not on :math:`\kappa`; with :math:`\kappa = 1` the Nystrom
        extension of :meth:`transform` needs no division by small eigenvalues.
    metric : array-like of shape (n_features,) or (n_out, n_features), default=None
        Kernel distance: ``None`` Euclidean; a 1-D array of non-negative weights
        :math:`w`, :math:`d^2 = \sum_j w_j (x_j - x'_j)^2`; a 2-D factor :math:`R`,
        :math:`d = \|R(x - x')\|` (rows are mapped as ``(x - x') @ R.T``).
    n_neighbors : int, default=10
        Neighbour rank of the ``"knn"`` rule, capped at ``n_samples - 1``.
    gap_threshold : float, default=0.1
        :math:`c_{ref}` of the ``"gap"`` rule (Soize: "standard 0.1"), in (0, 1).
    reconstruction_tol : float, default=0.2
        Relative reconstruction error targeted by the ``"reconstruction"`` rule, in
        (0, 1).
    eigen_solver : {"auto", "dense", "arpack"}, default="auto"
        Eigen-solver of the symmetric operator :math:`P_S`, for the top
        :math:`k` pairs (:math:`k = m + 1`, or the whole spectrum for the
        ``"reconstruction"`` rule):

        - ``"dense"``: LAPACK (:func:`scipy.linalg.eigh`, restricted to the top
          :math:`k` when :math:`k < N`), :math:`O(N^3)`.
        - ``"arpack"``: implicitly restarted Lanczos
          (:func:`scipy.sparse.linalg.eigsh`), :math:`O(N^2)` per product with
          :math:`P_S` and typically 150-300 products for :math:`k = 52`;
          requires :math:`k < N - 1` (the dense solver is used otherwise).
        - ``"auto"``: ``"arpack"`` when :math:`N > 1000` and
          :math:`k \le 0.2 N`, ``"dense"`` otherwise (measured on two cores for
          :math:`k = 52`: at :math:`N = 3000`, 1.2 s with ARPACK against 14 s
          for the dense top-k solver). The solver used for the basis is
          recorded in ``eigen_solver_``.

        Above 5000 rows the :math:`N \times N` distance and kernel matrices are
        stored in float32 (computed from float64 distances; degrees summed in
        float64; Lanczos in float64 with float32 products): half the memory
        (about 2 x 1.6 GB at :math:`N = 20000`) and faster products, with
        eigenvalues within about 1e-6 relative of the float64 computation.
    n_landmarks : int, "auto" or None, default="auto"
        Rows on which the kernel operator is built and diagonalised:

        - ``None``: all :math:`N` rows (the dense :math:`N \times N` kernel).
        - an int :math:`L \ge 3`: a uniform random subset of :math:`\min(L, N)`
          rows drawn from ``random_state`` (the landmarks, ``landmarks_``). The
          bandwidth and dimension rules and the eigenpairs run on the
          :math:`L \times L` landmark operator exactly as they would on an
          :math:`L`-row training set; the eigenvectors are then extended to all
          :math:`N` rows by the Nystrom formula of the Notes, by blocks of
          ``TRANSFORM_BLOCK`` rows. Memory is bounded by the :math:`L \times L`
          matrices plus one ``TRANSFORM_BLOCK`` x :math:`L` block, whatever
          :math:`N`; no :math:`N \times N` array is formed. With :math:`L \ge N`
          every row is a landmark and the result is the dense one up to round-off.
        - ``"auto"``: ``None`` up to ``AUTO_DENSE_MAX_ROWS`` = 20000 rows,
          ``AUTO_N_LANDMARKS`` = 20000 landmarks above (the dense fit of 20000 rows
          takes about 1 minute and 3.4 GB on two cores; the dense kernel of 50000
          rows would not fit in 16 GB).

        A uniform subset keeps the density of the data, which the diffusion
        operator depends on; the rules see only the landmarks, so ``epsilon_``
        is the bandwidth they select for :math:`L` rows (the gap rule picks a
        larger one for fewer rows), and the ``"reconstruction"`` rule for
        :math:`m` uses the :math:`L \times L` spectrum and the landmark rows.
        ``reconstruction_error_`` is always measured on all :math:`N` rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the start vector of ARPACK and the choice of landmarks; the dense
        solver is deterministic.

    Attributes
    ----------
    epsilon_ : float
        Bandwidth used.
    epsilon_rule_ : str
        How it was chosen: ``"given"``, ``"gap"``, ``"knn"``, or
        ``"knn (no gap found)"`` after a fallback.
    n_components_ : int
        Number :math:`m` of basis vectors, the constant one included.
    n_components_rule_ : str
        ``"given"``, ``"gap"``, ``"reconstruction"`` or
        ``"reconstruction (no gap found)"``.
    eigen_solver_ : str
        Solver used for the basis, ``"dense"`` or ``"arpack"``.
    eigenvalues_ : ndarray of shape (n_components_,)
        :math:`1 = \lambda_1 \ge \dots \ge \lambda_m > 0`.
    gap_ratio_ : float
        :math:`\lambda_{m+1}/\lambda_m` (nan when :math:`m = N`, or :math:`m = L`
        with landmarks).
    eigenvectors_ : ndarray of shape (n_samples_fit, n_components_)
        Right eigenvectors :math:`\psi` of the transition matrix, normalised by
        :math:`\psi^T b\,\psi = I`, deterministic signs; the first is constant.
        With landmarks: the Nystrom extension to every training row of the
        eigenvectors of the landmark transition matrix, which are normalised by
        :math:`\psi_L^T b_L\,\psi_L = I` on the landmarks.
    embedding_ : ndarray of shape (n_samples_fit, n_components_)
        The basis :math:`g = \psi\,\mathrm{diag}(\lambda^\kappa)` on the training rows.
    row_sums_ : ndarray of shape (n_samples_fit,)
        Kernel degrees :math:`b_i = \sum_j k(x_i, x_j)`; with landmarks, the sum
        runs over the landmarks :math:`x_j`.
    landmarks_ : ndarray of shape (n_landmarks_,)
        Increasing indices of the training rows the operator was built on (all
        rows, ``arange(n_samples_fit)``, for the dense kernel).
    n_landmarks_ : int
        Number of landmarks :math:`L` (:math:`N` for the dense kernel).
    reconstruction_error_ : float
        :math:`\|X_c - \Pi_m X_c\|_F / \|X_c\|_F` of the training data with the kept
        basis (always computed).
    decoder_ : ndarray of shape (n_components_, n_features_in_)
        Least-squares decoder :math:`z_d^T = (g^T g)^{-1} g^T X`.
    X_fit_ : ndarray of shape (n_samples_fit, n_features_in_)
        Training data, used by the Nystrom extension.
    n_neighbors_ : int
        Neighbour rank used by the ``"knn"`` rule.
    epsilon_search_ : ndarray of shape (n_evaluations, 2)
        Every (epsilon, gap ratio) evaluated by the ``"gap"`` search (empty when it
        did not run).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when they are all strings.

    See Also
    --------
    WhiteningPCA : The whitening that precedes the diffusion map in PLoM.

    Notes
    -----
    With :math:`K_{ij} = k(x_i, x_j)`, :math:`b = K\mathbf 1` and the symmetric
    conjugate :math:`P_S = b^{-1/2} K b^{-1/2}` of the transition matrix
    :math:`P = b^{-1}K`:

    .. math::

        P_S\phi_a = \lambda_a\phi_a, \qquad \psi_a = b^{-1/2}\phi_a, \qquad
        P\psi_a = \lambda_a\psi_a, \qquad \psi^T b\,\psi = I, \qquad
        g_a = \lambda_a^\kappa\psi_a ,

    (PLoM_SPEC step 5). New rows get the Nystrom extension

    .. math::

        g_a(x) = \lambda_a^{\kappa - 1}\sum_j
            \frac{k(x, x_j)}{\sum_l k(x, x_l)}\,\psi_a(x_j),

    which reproduces :math:`g` on the training rows exactly (:math:`P\psi =
    \psi\Lambda`); :meth:`transform` applies it row by row to every input, training
    rows included.

    With landmarks :math:`x_{l_1}, \dots, x_{l_L}` (a uniform random subset of the
    training rows), :math:`K`, :math:`b`, :math:`P_S`, :math:`\lambda` and
    :math:`\psi_L` are those of the :math:`L` landmark rows, and every training
    row :math:`x_i` gets

    .. math::

        \psi_a(x_i) = \frac{1}{\lambda_a}\sum_{j=1}^{L}
            \frac{k(x_i, x_{l_j})}{\sum_{q=1}^{L} k(x_i, x_{l_q})}\,
            \psi_{L,a}(x_{l_j}), \qquad
        b_i = \sum_{j=1}^{L} k(x_i, x_{l_j}),

    the Nystrom extension of the eigenfunctions of the landmark Markov operator [4]_.
    It equals :math:`\psi_L` on the landmarks (:math:`P_L\psi_L =
    \psi_L\Lambda`); on the other rows it approximates the eigenvectors of the
    full :math:`N \times N` operator at the same bandwidth to the Monte Carlo error
    of an :math:`L`-point discretisation (measured in docs/landmarks.md).
    :meth:`transform` averages over the landmarks, so it reproduces ``embedding_``
    on the training rows.

    :meth:`inverse_transform` is the least-squares decoder
    :math:`G\,z_d^T` with :math:`z_d = X^T g (g^T g)^{-1}` (PLoM_SPEC step 6),
    computed as :math:`\Lambda^{-\kappa}\,\mathrm{lstsq}(\psi, X)` so that the
    conditioning of :math:`\lambda^\kappa` never enters a solve.

    References
    ----------
    .. [1] C. Soize and R. Ghanem, "Data-driven probability concentration and
       sampling on manifold", J. Comput. Phys. 321 (2016) 242-258,
       :doi:`10.1016/j.jcp.2016.05.044`.
    .. [2] R. R. Coifman and S. Lafon, "Diffusion maps", Appl. Comput. Harmon.
       Anal. 21 (2006) 5-30, :doi:`10.1016/j.acha.2006.04.006`.
    .. [3] C. Soize and R. Ghanem, "Probabilistic learning on manifolds with
       partition", Int. J. Numer. Methods Eng. 123 (2022) 268-290,
       :doi:`10.1002/nme.6856`.
    .. [4] C. Fowlkes, S. Belongie, F. Chung and J. Malik, "Spectral grouping
       using the Nystrom method", IEEE Trans. Pattern Anal. Mach. Intell. 26
       (2004) 214-225, :doi:`10.1109/TPAMI.2004.1262185`.

    Examples
    --------
    >>> from skaidm import AnisotropicDiffusionMap, WhiteningPCA
    >>> from skaidm.datasets import make_helix
    >>> X = make_helix(random_state=0)
    >>> eta = WhiteningPCA().fit_transform(X)
    >>> dmap = AnisotropicDiffusionMap().fit(eta)
    >>> dmap.epsilon_rule_, dmap.n_components_
    ('gap', 4)
    >>> bool(5.0 < dmap.epsilon_ <= 5.5)
    True
    """

    def __init__(
        self,
        epsilon="auto",
        n_components="auto",
        *,
        kappa=1.0,
        metric=None,
        n_neighbors=10,
        gap_threshold=0.1,
        reconstruction_tol=0.2,
        eigen_solver="auto",
        n_landmarks="auto",
        random_state=None,
    ):
        self.epsilon = epsilon
        self.n_components = n_components
        self.kappa = kappa
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.gap_threshold = gap_threshold
        self.reconstruction_tol = reconstruction_tol
        self.eigen_solver = eigen_solver
        self.n_landmarks = n_landmarks
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        eps = self.epsilon
        if isinstance(eps, str):
            if eps not in EPSILON_RULES:
                raise ValueError(
                    f"epsilon={eps!r} is not a known rule; use a positive float or "
                    f"one of {EPSILON_RULES}."
                )
        elif not (is_real(eps) and eps > 0):
            raise ValueError(
                f"epsilon={eps!r} must be a positive finite float or one of "
                f"{EPSILON_RULES}."
            )
        m = self.n_components
        if isinstance(m, str):
            if m not in N_COMPONENTS_RULES:
                raise ValueError(
                    f"n_components={m!r} is not a known rule; use an int >= 1 or one "
                    f"of {N_COMPONENTS_RULES}."
                )
        elif not (is_int(m) and m >= 1):
            raise ValueError(
                f"n_components={m!r} must be an int >= 1 or one of "
                f"{N_COMPONENTS_RULES}."
            )
        for name, low, high in (
            ("gap_threshold", 0.0, 1.0),
            ("reconstruction_tol", 0.0, 1.0),
        ):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and low < value < high):
                raise ValueError(
                    f"{name}={value!r} must be a float in ({low}, {high})."
                )
        if not (isinstance(self.kappa, numbers.Real) and self.kappa >= 0):
            raise ValueError(f"kappa={self.kappa!r} must be a real number >= 0.")
        if not (is_int(self.n_neighbors) and self.n_neighbors >= 1):
            raise ValueError(f"n_neighbors={self.n_neighbors!r} must be an int >= 1.")
        if self.eigen_solver not in EIGEN_SOLVERS:
            raise ValueError(
                f"eigen_solver={self.eigen_solver!r} must be one of {EIGEN_SOLVERS}."
            )
        L = self.n_landmarks
        if isinstance(L, str):
            if L != "auto":
                raise ValueError(
                    f"n_landmarks={L!r} is not a known rule; use None (all rows), "
                    f"'auto' or an int >= {MIN_LANDMARKS}."
                )
        elif L is not None and not (is_int(L) and L >= MIN_LANDMARKS):
            raise ValueError(
                f"n_landmarks={L!r} must be None (all rows, dense kernel), 'auto' or "
                f"an int >= {MIN_LANDMARKS} (the number of landmark rows)."
            )

    def _landmarks(self, n_samples, rng):
        """Sorted landmark indices, or None for the dense kernel on all rows."""
        L = self.n_landmarks
        if L == "auto":
            L = AUTO_N_LANDMARKS if n_samples > AUTO_DENSE_MAX_ROWS else None
        if L is None:
            return None
        # Uniform without replacement: the landmarks keep the density of the data,
        # which the diffusion operator depends on (docs/landmarks.md compares
        # farthest-point sampling). Sorted, so that L >= N gives the rows in order.
        L = min(int(L), n_samples)
        return np.sort(rng.choice(n_samples, size=L, replace=False))

    def _check_metric(self, n_features):
        if self.metric is None:
            return None
        metric = check_array(
            self.metric, ensure_2d=False, dtype=np.float64, input_name="metric"
        )
        if metric.ndim == 1:
            if metric.shape[0] != n_features:
                raise ValueError(
                    f"metric has {metric.shape[0]} weights but X has {n_features} "
                    "features: pass one non-negative weight per feature, or a 2-D "
                    f"factor R of shape (n_out, {n_features})."
                )
            if np.any(metric < 0):
                raise ValueError(
                    "metric weights must be non-negative (they multiply squared "
                    "differences)."
                )
        elif metric.ndim == 2:
            if metric.shape[1] != n_features:
                raise ValueError(
                    f"metric factor R has shape {metric.shape} but X has "
                    f"{n_features} features: R must have shape (n_out, {n_features}) "
                    "so that d = ||R (x - x')||."
                )
        else:
            raise ValueError(
                f"metric must be None, 1-D or 2-D; got an array with {metric.ndim} "
                "dimensions."
            )
        return metric

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Compute the diffusion-map basis of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, usually whitened (see :class:`WhiteningPCA`).
        y : None
            Ignored.

        Returns
        -------
        self : AnisotropicDiffusionMap
            Fitted estimator.
        """
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=3)
        n_samples, n_features = X.shape
        metric = self._check_metric(n_features)
        rng = check_random_state(self.random_state)
        arpack_rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        landmarks = self._landmarks(n_samples, rng)
        # The operator is built on X_op: all rows, or the landmarks.
        X_op = X if landmarks is None else X[landmarks]
        n_op = X_op.shape[0]
        rows_name = "n_samples" if landmarks is None else "landmarks (n_landmarks)"

        D2 = squared_distances(apply_metric(X_op, metric), dtype=kernel_dtype(n_op))
        if not D2.max() > 0:
            raise ValueError(
                "All rows are identical in the kernel metric (for example one "
                "spectrum repeated, or a metric that is zero on the data): the "
                "diffusion map needs distinct rows."
                + (
                    ""
                    if landmarks is None
                    else f" (checked on the {n_op} landmarks; use more landmarks "
                    "if the data holds only a few distinct rows)"
                )
            )
        self.n_neighbors_ = int(min(self.n_neighbors, n_op - 1))

        eps_rule, m_rule = self.epsilon, self.n_components
        if eps_rule == "auto":
            eps_rule = "gap" if metric is None and _is_whitened(X) else "knn"
        if m_rule == "auto":
            m_rule = "gap" if eps_rule == "gap" else "reconstruction"

        m_gap = n_features + 1
        if isinstance(self.n_components, numbers.Integral):
            if self.n_components > n_op:
                raise ValueError(
                    f"n_components={self.n_components} exceeds {rows_name}={n_op}: "
                    f"a diffusion map on {n_op} rows has at most {n_op} basis vectors."
                    + ("" if landmarks is None else " Use more landmarks.")
                )
        elif self.n_components == "gap" and m_gap > n_op:
            raise ValueError(
                f'n_components="gap" needs m = n_features + 1 = {m_gap} basis vectors '
                f"but only {rows_name}={n_op} rows were given; use "
                f'n_components="reconstruction" or an int <= {n_op}'
                + ("." if landmarks is None else ", or more landmarks.")
            )

        epsilon_given = not isinstance(self.epsilon, str)
        eps_knn, knn_rule = knn_epsilon(D2, self.n_neighbors_), "knn"
        if eps_knn == 0.0:
            eps_knn = median_pair_distance(D2, positive=True) / 4.0
            knn_rule = "knn (duplicates: median distance)"
            if eps_rule == "knn":
                warnings.warn(
                    f"Most rows have more than n_neighbors={self.n_neighbors_} exact "
                    "duplicates, so the distance to the n_neighbors-th neighbour is "
                    "0; the knn bandwidth uses the median distance between distinct "
                    f"rows instead (epsilon={eps_knn:.6g}).",
                    DiffusionMapWarning,
                    stacklevel=2,
                )
        self.epsilon_search_ = np.empty((0, 2))
        search_pairs = None
        if epsilon_given:
            epsilon, self.epsilon_rule_ = float(self.epsilon), "given"
        elif eps_rule == "knn":
            epsilon, self.epsilon_rule_ = eps_knn, knn_rule
        else:
            epsilon, reason = None, None
            if m_gap + 1 > n_op:
                reason = (
                    f"the gap rule needs m + 1 = n_features + 2 = {m_gap + 1} "
                    f"eigenvalues but there are only {rows_name}={n_op} rows"
                )
            else:
                median_d2 = median_pair_distance(D2)
                search_solver = self._solver(n_op, m_gap + 1)
                epsilon, path, *search_pairs = search_gap_epsilon(
                    D2,
                    m_gap,
                    threshold=self.gap_threshold,
                    epsilon_start=eps_knn,
                    epsilon_stop=GAP_SEARCH_SPAN * max(median_d2, 4 * eps_knn) / 4,
                    solver=search_solver,
                    random_state=arpack_rng,
                    return_eigenpairs=search_solver == "arpack",
                )
                self.epsilon_search_ = np.asarray(path, dtype=np.float64)
                # Eigenpairs at epsilon, only from ARPACK (see below).
                search_pairs = search_pairs[0] if search_pairs else None
                if epsilon is None:
                    reason = (
                        "no bandwidth has a spectral gap lambda_(m+1)/lambda_m <= "
                        f"{self.gap_threshold} at m = n_features + 1 = {m_gap} "
                        "(expected for an anisotropic metric or unwhitened input)"
                    )
            if epsilon is None:
                fallback_m = self.n_components == "auto"
                warnings.warn(
                    f"epsilon='gap' found nothing: {reason}. Using the knn bandwidth "
                    f"epsilon={eps_knn:.6g}"
                    + (
                        " and the reconstruction rule for m."
                        if fallback_m
                        else ". n_components='gap' still keeps m = n_features + 1, "
                        "which without a spectral gap may reconstruct the data "
                        "poorly (see reconstruction_error_); consider "
                        "n_components='reconstruction'."
                    ),
                    DiffusionMapWarning,
                    stacklevel=2,
                )
                epsilon, self.epsilon_rule_ = eps_knn, "knn (no gap found)"
                if fallback_m:
                    m_rule = "reconstruction (no gap found)"
            else:
                self.epsilon_rule_ = "gap"
        self.epsilon_ = float(epsilon)

        P_S, b = symmetric_diffusion_operator(D2, self.epsilon_, out=D2)
        del D2  # overwritten by P_S
        if isinstance(self.n_components, numbers.Integral):
            m_rule = "given"
            k = min(self.n_components + 1, n_op)
        elif m_rule == "gap":
            k = min(m_gap + 1, n_op)
        else:
            # The reconstruction rule may need any number of vectors: the whole
            # spectrum.
            k = n_op
        self.eigen_solver_ = self._solver(n_op, k)
        if (
            search_pairs is not None
            and self.epsilon_rule_ == "gap"
            and self.eigen_solver_ == "arpack"
            and len(search_pairs[0]) == k
        ):
            # The search already solved at this bandwidth, with the same solver.
            lam, phi = search_pairs
        else:
            lam, phi = top_eigenpairs(
                P_S, k, solver=self.eigen_solver_, random_state=arpack_rng
            )
        del search_pairs
        del P_S

        # Never keep numerically null eigenvalues: their eigenvectors are noise and
        # g = lambda^kappa psi would vanish.
        n_valid = int(np.sum(lam > NULL_EIGENVALUE))
        psi = _flip_signs(phi[:, :n_valid] / np.sqrt(b)[:, None])
        del phi
        if m_rule == "given":
            m = self.n_components
            if m > n_valid:
                raise ValueError(
                    f"n_components={m} exceeds the {n_valid} numerically non-zero "
                    f"eigenvalues of the diffusion operator at epsilon={epsilon:.6g}; "
                    "use a smaller n_components or a smaller epsilon."
                )
        elif m_rule == "gap":
            m = min(m_gap, n_valid)
        else:
            # On the operator's rows (the landmarks, if any): the whole spectrum
            # of the N x N operator is what landmarks avoid.
            errors = projection_errors(psi, X_op)
            reached = np.flatnonzero(errors <= self.reconstruction_tol)
            if reached.size:
                m = int(reached[0]) + 1
            else:
                m = n_valid
                warnings.warn(
                    f"The diffusion basis does not reach reconstruction_tol="
                    f"{self.reconstruction_tol} with all {n_valid} numerically "
                    f"non-zero eigenvectors at epsilon={epsilon:.6g} (error "
                    f"{errors[-1]:.3g}); keeping all of them. A smaller epsilon "
                    "gives more usable eigenvectors.",
                    DiffusionMapWarning,
                    stacklevel=2,
                )
        self.n_components_rule_ = m_rule
        self.n_components_ = int(m)
        self.gap_ratio_ = gap_ratio(lam, m)
        lam = lam[:m]
        psi = psi[:, :m]
        if landmarks is None:
            self.landmarks_ = np.arange(n_samples)
        else:
            # Nystrom extension to every training row (landmarks included, where it
            # gives back psi to round-off): psi(x_i) = (P_iL psi_L) / lambda.
            psi, b = nystrom_average(
                apply_metric(X, metric),
                apply_metric(X_op, metric),
                psi,
                self.epsilon_,
                block_rows=TRANSFORM_BLOCK,
            )
            psi /= lam
            self.landmarks_ = landmarks
        self.n_landmarks_ = len(self.landmarks_)
        self.eigenvalues_ = lam
        self.eigenvectors_ = psi
        self.embedding_ = psi * lam**self.kappa
        self.row_sums_ = b
        self.X_fit_ = X.copy()

        # Least-squares decoder through the well-conditioned psi (PLoM_SPEC pitfall
        # 3): z_d^T = (g^T g)^-1 g^T X = Lambda^-kappa lstsq(psi, X).
        Q, R = np.linalg.qr(psi)
        coef = scipy.linalg.solve_triangular(R, Q.T @ X)
        self.decoder_ = coef / (lam**self.kappa)[:, None]
        Xc = X - X.mean(axis=0)
        resid = Xc - Q @ (Q.T @ Xc)
        norm = np.linalg.norm(Xc)
        self.reconstruction_error_ = (
            float(np.linalg.norm(resid) / norm) if norm > 0 else 0.0
        )
        logger.info(
            "diffusion map: epsilon=%.6g (%s), m=%d (%s), gap ratio %.3g, "
            "reconstruction error %.3g, %d of %d rows as landmarks",
            self.epsilon_,
            self.epsilon_rule_,
            self.n_components_,
            self.n_components_rule_,
            self.gap_ratio_,
            self.reconstruction_error_,
            self.n_landmarks_,
            n_samples,
        )
        return self

    def _solver(self, n_samples, k):
        if self.eigen_solver == "auto" or k >= n_samples - 1:
            # ARPACK cannot return N - 1 or N pairs: dense then, whatever was asked.
            return choose_eigen_solver(n_samples, k)
        return self.eigen_solver

    @property
    def _n_features_out(self):
        """Number of output features, used by ``get_feature_names_out``."""
        return self.n_components_

    # --------------------------------------------------------------- transform
    def transform(self, X):
        r"""Diffusion coordinates of X by the Nystrom extension.

        .. math::

            g_a(x) = \lambda_a^{\kappa - 1}\sum_j
                \frac{k(x, x_j)}{\sum_l k(x, x_l)}\,\psi_a(x_j)

        applied to every row (training rows included, for which it equals
        ``embedding_``), the sum running over the landmarks :math:`x_j` (all
        training rows for the dense kernel). Rows far from the training data are
        handled in log-space: they get the coordinates of their nearest landmarks,
        never NaN. Rows are processed by blocks of ``TRANSFORM_BLOCK``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to embed.

        Returns
        -------
        G : ndarray of shape (n_samples, n_components_)
            Diffusion coordinates.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        metric = self._check_metric(self.n_features_in_)
        if self.n_landmarks_ == self.X_fit_.shape[0]:
            X_ref, psi_ref = self.X_fit_, self.eigenvectors_
        else:
            X_ref = self.X_fit_[self.landmarks_]
            psi_ref = self.eigenvectors_[self.landmarks_]
        G, _ = nystrom_average(
            apply_metric(X, metric),
            apply_metric(X_ref, metric),
            psi_ref,
            self.epsilon_,
            block_rows=TRANSFORM_BLOCK,
        )
        G *= (self.eigenvalues_ ** (self.kappa - 1.0))[None, :]
        return G

    def inverse_transform(self, X):
        r"""Least-squares decoding :math:`G\,z_d^T` of diffusion coordinates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Diffusion coordinates.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Decoded rows. On the training embedding this is the orthogonal
            projection of the (centred) training data onto the span of the basis.
        """
        check_is_fitted(self)
        G = check_array(X, dtype=np.float64)
        if G.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {G.shape[1]} columns, but inverse_transform expects "
                f"n_components_={self.n_components_} diffusion coordinates."
            )
        return G @ self.decoder_
