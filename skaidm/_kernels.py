"""Pure array functions for the diffusion-map kernel and its bandwidth rules."""

# Nothing here knows about estimators: arrays in, arrays or floats out.  Notation
# follows the package: N rows, epsilon in the paper's convention
# k(x, x') = exp(-d^2 / (4 epsilon)), m counts the constant eigenvector.

import logging
import math

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

logger = logging.getLogger(__name__)

# Above this many rows, "auto" uses ARPACK (Lanczos) for the top eigenpairs instead of
# LAPACK's dense tridiagonalisation, whose O(N^3) cost dominates beyond a few hundred
# rows; see ARPACK_MAX_FRACTION for the other condition.
DENSE_EIGEN_MAX_ROWS = 1000

# "auto" uses ARPACK only for k <= this fraction of N eigenpairs: Lanczos works with
# about 2k + 1 vectors and loses to the dense solver as k approaches N.
ARPACK_MAX_FRACTION = 0.2

# Above this many rows the distance and kernel matrices of the diffusion map are
# stored in float32 (see squared_distances and symmetric_diffusion_operator): half
# the memory (1.6 GB instead of 3.2 GB per N x N matrix at N = 20000) and about 3x
# faster matrix-vector products, which dominate ARPACK. Distances are still computed
# in float64 and eigenvalues agree with the float64 path to about 1e-6 relative.
FLOAT32_MIN_ROWS = 5000

# Relative residual tolerance of ARPACK on a float32 matrix (float64 matrices use
# machine precision): well below the 6e-8 rounding of the entries, well above what
# float32 products can resolve.
ARPACK_FLOAT32_TOL = 1e-9

# Rows per block of the blocked N x N computations (float32 distances, knn bandwidth):
# bounds their float64 temporaries to KERNEL_BLOCK_ROWS x N.
KERNEL_BLOCK_ROWS = 512

# Eigenvalues of the symmetric conjugate P_S below this, relative to lambda_1 = 1, are
# treated as numerically zero (round-off of a dense symmetric eigensolver is about
# N * machine epsilon; 1e-12 leaves a safe margin for N up to tens of thousands).
NULL_EIGENVALUE = 1e-12


def apply_metric(X, metric):
    r"""Map rows into the space where the kernel distance is Euclidean.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to map.
    metric : None, ndarray of shape (n_features,) or (n_out, n_features)
        ``None``: the identity. A 1-D vector of non-negative weights :math:`w`:
        :math:`d^2(x, x') = \sum_j w_j (x_j - x'_j)^2`, i.e. rows scaled by
        :math:`\sqrt{w}`. A 2-D factor :math:`R`: :math:`d = \|R(x - x')\|`, i.e.
        rows mapped to :math:`x R^T`.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_out)
        Rows such that the kernel distance is :math:`\|y - y'\|`.
    """
    if metric is None:
        return X
    if metric.ndim == 1:
        return X * np.sqrt(metric)
    return X @ metric.T


def squared_distances(Y, Z=None, *, dtype=np.float64):
    r"""Squared Euclidean distances between rows, computed with one GEMM.

    :math:`\|y\|^2 + \|z\|^2 - 2 y \cdot z`, clamped at 0. Without ``Z`` the result
    is exactly symmetric with an exactly zero diagonal.

    Parameters
    ----------
    Y : ndarray of shape (n_samples_Y, n_features)
    Z : ndarray of shape (n_samples_Z, n_features), default=None
        ``None`` means ``Y``.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Storage of the result (only without ``Z``). With float32 the distances are
        computed in float64 by blocks of ``KERNEL_BLOCK_ROWS`` rows over the upper
        triangle, mirrored, and rounded once to float32: the only float64 temporary
        is one block.

    Returns
    -------
    D2 : ndarray of shape (n_samples_Y, n_samples_Z)
    """
    sq_y = np.einsum("ij,ij->i", Y, Y)
    if Z is None and np.dtype(dtype) != np.float64:
        return _squared_distances_blocked(Y, sq_y, dtype)
    if Z is None:
        D2 = Y @ Y.T
        D2 *= -2.0
        D2 += sq_y[:, None]
        D2 += sq_y[None, :]
        # BLAS GEMM does not promise a symmetric product: average the two triangles
        # so that the kernel, and hence P_S, is symmetric to the last bit.
        D2 += D2.T
        D2 *= 0.5
        np.fill_diagonal(D2, 0.0)
    else:
        sq_z = np.einsum("ij,ij->i", Z, Z)
        D2 = Y @ Z.T
        D2 *= -2.0
        D2 += sq_y[:, None]
        D2 += sq_z[None, :]
    np.maximum(D2, 0.0, out=D2)
    return D2


def _squared_distances_blocked(Y, sq_y, dtype):
    n = Y.shape[0]
    D2 = np.empty((n, n), dtype=dtype)
    for start in range(0, n, KERNEL_BLOCK_ROWS):
        stop = min(start + KERNEL_BLOCK_ROWS, n)
        # Upper triangle of the row block, the diagonal block in full.
        block = Y[start:stop] @ Y[start:].T
        block *= -2.0
        block += sq_y[start:stop, None]
        block += sq_y[None, start:]
        diag = block[:, : stop - start]
        diag[...] = 0.5 * (diag + diag.T)
        np.fill_diagonal(diag, 0.0)
        np.maximum(block, 0.0, out=block)
        D2[start:stop, start:] = block
        D2[start:, start:stop] = block.T
    return D2


def kernel_dtype(n_samples):
    """Storage of the N x N diffusion-map matrices.

    float32 above ``FLOAT32_MIN_ROWS`` rows, float64 otherwise.
    """
    return np.float32 if n_samples > FLOAT32_MIN_ROWS else np.float64


def choose_eigen_solver(n_samples, k):
    """The ``"auto"`` eigen solver for the top ``k`` pairs of an N x N operator.

    ``"arpack"`` when ``N > DENSE_EIGEN_MAX_ROWS`` and
    ``k <= ARPACK_MAX_FRACTION * N``, ``"dense"`` otherwise.
    """
    if n_samples > DENSE_EIGEN_MAX_ROWS and k <= ARPACK_MAX_FRACTION * n_samples:
        return "arpack"
    return "dense"


def symmetric_diffusion_operator(D2, epsilon, out=None):
    r"""Gaussian kernel and its symmetric normalisation.

    .. math::

        K_{ij} = \exp\!\Big(-\frac{d_{ij}^2}{4\varepsilon}\Big), \qquad
        b_i = \sum_j K_{ij}, \qquad
        P_S = b^{-1/2} K b^{-1/2},

    PLoM_SPEC step 5 (Soize & Ghanem 2016, Eq. 21). :math:`P_S` is symmetric positive
    semi-definite and similar to the transition matrix :math:`P = b^{-1} K`, so
    both share the eigenvalues :math:`1 = \lambda_1 \ge \lambda_2 \ge \dots \ge 0`.

    Parameters
    ----------
    D2 : ndarray of shape (N, N)
        Symmetric squared distances with a zero diagonal, float64 or float32;
        :math:`P_S` has the same dtype.
    epsilon : float
        Bandwidth, paper convention.
    out : ndarray of shape (N, N), default=None
        Work array to write :math:`P_S` into (it may be reused across bandwidths,
        or be ``D2`` itself).

    Returns
    -------
    P_S : ndarray of shape (N, N)
    b : ndarray of shape (N,)
        Row sums of the kernel (the diagonal of the degree matrix), each >= 1,
        always accumulated in float64.
    """
    P_S = np.multiply(D2, -1.0 / (4.0 * epsilon), out=out)
    np.exp(P_S, out=P_S)
    # Degrees are accumulated in float64 whatever the storage.
    b = P_S.sum(axis=1, dtype=np.float64)
    inv_sqrt_b = (1.0 / np.sqrt(b)).astype(P_S.dtype, copy=False)
    P_S *= inv_sqrt_b[:, None]
    P_S *= inv_sqrt_b[None, :]
    return P_S, b


def top_eigenpairs(P_S, k, *, solver="dense", values_only=False, random_state=None):
    """Largest ``k`` eigenpairs of the symmetric PSD matrix ``P_S``, descending.

    Parameters
    ----------
    P_S : ndarray of shape (N, N)
        Symmetric matrix, float64 or float32; may be overwritten.
    k : int
        Number of eigenpairs, ``1 <= k <= N``.
    solver : {"dense", "arpack"}, default="dense"
        ``"dense"``: LAPACK ``syevr`` restricted to the top ``k`` indices
        (``scipy.linalg.eigh(subset_by_index=...)``), or all pairs with ``syevd``;
        a float32 matrix is first converted to float64. ``"arpack"``: implicitly
        restarted Lanczos (:func:`scipy.sparse.linalg.eigsh`), for large N and
        ``k`` well below N; it needs only products :math:`P_S v`, each one pass
        over one triangle of the matrix (BLAS ``symv``). Lanczos always runs in
        float64: with a float32 matrix the
        products are computed in float32 and the convergence tolerance is
        ``ARPACK_FLOAT32_TOL`` (eigenvalues then agree with the float64 matrix to
        about 1e-7 relative, the rounding of its entries).
    values_only : bool, default=False
        Return only the eigenvalues.
    random_state : numpy.random.Generator, default=None
        Start vector of Lanczos; ``None`` uses a fixed generator.

    Returns
    -------
    eigenvalues : ndarray of shape (k,)
        Descending, float64, negative round-off clipped to 0.
    eigenvectors : ndarray of shape (N, k)
        Orthonormal columns, float64 (absent when ``values_only``).
    """
    N = P_S.shape[0]
    if solver == "arpack" and k < N - 1:
        rng = np.random.default_rng(0) if random_state is None else random_state
        v0 = rng.uniform(-1.0, 1.0, N)
        # Products with BLAS symv on one triangle: half the memory traffic of a
        # general product, which bounds the speed of Lanczos on a dense matrix.
        # P_S.T is the Fortran-ordered view of the same (symmetric) matrix, so no
        # copy is made.
        symv = scipy.linalg.blas.get_blas_funcs("symv", dtype=P_S.dtype)
        A = P_S.T

        def matvec(v):
            v = np.asarray(v, dtype=P_S.dtype).reshape(-1)
            return symv(1.0, A, v).astype(np.float64, copy=False)

        operator = scipy.sparse.linalg.LinearOperator(
            (N, N), matvec=matvec, dtype=np.float64
        )
        tol = 0.0 if P_S.dtype == np.float64 else ARPACK_FLOAT32_TOL
        result = scipy.sparse.linalg.eigsh(
            operator,
            k=k,
            which="LA",
            v0=v0,
            tol=tol,
            return_eigenvectors=not values_only,
        )
        vals, vecs = (result, None) if values_only else result
    else:
        if P_S.dtype != np.float64:
            P_S = P_S.astype(np.float64)
        kwargs = {"overwrite_a": True, "check_finite": False}
        if k < N:
            kwargs["subset_by_index"] = (N - k, N - 1)
        else:
            kwargs["driver"] = "evd"
        if values_only:
            vals, vecs = scipy.linalg.eigh(P_S, eigvals_only=True, **kwargs), None
        else:
            vals, vecs = scipy.linalg.eigh(P_S, **kwargs)
    order = np.argsort(vals)[::-1]
    # P_S is positive semi-definite: negative eigenvalues are round-off (as in
    # scikit-learn's _check_psd_eigenvalues).
    vals = np.clip(vals[order], 0.0, None)
    if values_only:
        return vals
    return vals, vecs[:, order]


def nystrom_average(Y, Y_ref, vectors, epsilon, *, block_rows=1024):
    r"""Kernel-weighted averages of vectors on reference rows (Nystrom extension).

    For each row :math:`y` of ``Y``,

    .. math::

        a(y) = \sum_j \frac{k(y, y_j)}{\sum_l k(y, y_l)}\, v(y_j), \qquad
        \beta(y) = \sum_l k(y, y_l), \qquad
        k(y, y') = \exp\!\Big(-\frac{\|y - y'\|^2}{4\varepsilon}\Big),

    where :math:`y_j` are the rows of ``Y_ref`` and :math:`v(y_j)` the rows of
    ``vectors``: the row of the transition matrix of ``Y`` against ``Y_ref`` times
    ``vectors``. Rows are processed by blocks, so the only temporary is one
    ``block_rows`` x ``len(Y_ref)`` float64 array (never ``len(Y)`` x
    ``len(Y_ref)``). Each row of squared distances is shifted by its minimum before
    the exponential: the normalised weights are unchanged, the largest weight is
    exactly 1 and their sum never underflows, so rows far from every reference row
    get the average over their nearest reference rows, never NaN.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_features)
        Rows to extend to, in the space where the kernel distance is Euclidean
        (see :func:`apply_metric`).
    Y_ref : ndarray of shape (n_ref, n_features)
        Reference rows, same space.
    vectors : ndarray of shape (n_ref, k)
        Values on the reference rows.
    epsilon : float
        Bandwidth, paper convention.
    block_rows : int, default=1024
        Rows of ``Y`` per block.

    Returns
    -------
    averages : ndarray of shape (n_samples, k)
        :math:`a(y)` for each row.
    degrees : ndarray of shape (n_samples,)
        :math:`\beta(y)`, the kernel degree of each row against the reference
        rows; may underflow to 0 for a row very far from all of them.
    """
    averages = np.empty((Y.shape[0], vectors.shape[1]))
    degrees = np.empty(Y.shape[0])
    scale = -1.0 / (4.0 * epsilon)
    for start in range(0, Y.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        D2 = squared_distances(Y[rows], Y_ref)
        nearest = D2.min(axis=1)
        D2 -= nearest[:, None]
        W = np.exp(D2 * scale, out=D2)
        total = W.sum(axis=1)
        averages[rows] = (W @ vectors) / total[:, None]
        degrees[rows] = total * np.exp(nearest * scale)
    return averages, degrees


def knn_epsilon(D2, n_neighbors):
    r"""Bandwidth from the distance to the k-th nearest neighbour.

    .. math:: \varepsilon = \tfrac14\,\mathrm{median}_i\, d^2(x_i, x_{i,(k)})

    where :math:`x_{i,(k)}` is the k-th nearest neighbour of row i, itself excluded.
    Rows are processed by blocks of ``KERNEL_BLOCK_ROWS`` (no N x N copy).

    Parameters
    ----------
    D2 : ndarray of shape (N, N)
        Squared distances with a zero diagonal.
    n_neighbors : int
        ``1 <= n_neighbors <= N - 1``.

    Returns
    -------
    epsilon : float
    """
    # Column 0 of the sorted rows is the row itself (distance 0).
    kth = np.concatenate(
        [
            np.partition(D2[start : start + KERNEL_BLOCK_ROWS], n_neighbors, axis=1)[
                :, n_neighbors
            ]
            for start in range(0, D2.shape[0], KERNEL_BLOCK_ROWS)
        ]
    )
    return float(np.median(kth.astype(np.float64))) / 4.0


def median_pair_distance(D2, positive=False):
    """Median of the squared distances between distinct rows (upper triangle).

    Parameters
    ----------
    D2 : ndarray of shape (N, N)
        Symmetric squared distances.
    positive : bool, default=False
        Only the non-zero distances (pairs of rows that are not duplicates).

    Returns
    -------
    median : float
        ``nan`` when there is no such pair.
    """
    n = D2.shape[0]
    # One copy of the upper triangle (N (N - 1) / 2 values in D2's dtype), no
    # index arrays.
    parts = [D2[i, i + 1 :] for i in range(n - 1)]
    values = np.concatenate(parts) if parts else np.empty(0, D2.dtype)
    if positive:
        values = values[values > 0]
    if values.size == 0:
        return math.nan
    return float(np.median(values, overwrite_input=True))


def gap_ratio(eigenvalues, m):
    r"""Spectral gap ratio :math:`\lambda_{m+1} / \lambda_m` (1-based, descending).

    ``nan`` when fewer than ``m + 1`` eigenvalues are given; ``inf`` when
    :math:`\lambda_m = 0`.
    """
    if len(eigenvalues) <= m:
        return math.nan
    lam_m, lam_next = eigenvalues[m - 1], eigenvalues[m]
    if lam_m <= 0.0:
        return math.inf
    return float(lam_next / lam_m)


def search_gap_epsilon(
    D2,
    m,
    *,
    threshold,
    epsilon_start,
    epsilon_stop,
    solver="dense",
    rtol=1e-3,
    random_state=None,
    return_eigenpairs=False,
):
    r"""Smallest bandwidth whose spectrum has a gap after the m-th eigenvalue.

    Soize's rule (PLoM_SPEC step 7): with :math:`m = r + 1`, the smallest
    :math:`\varepsilon` with :math:`\lambda_{m+1}/\lambda_m \le c_{ref}`. Instead of
    Soize's linear stepping with full eigendecompositions, the ratio is evaluated on
    the top :math:`m + 1` eigenvalues only, and the first crossing is bracketed on a
    geometric grid (factor 2) from ``epsilon_start``, then narrowed in
    :math:`t = \log\varepsilon` until the bracket is narrower than ``rtol``. The
    ratio need not be monotone in :math:`\varepsilon` (PLoM_SPEC pitfall 13), which
    is why the scan walks up from below instead of bisecting a wide interval.

    The narrowing is a safeguarded secant method on
    :math:`f(t) = \log(\lambda_{m+1}/\lambda_m) - \log c_{ref}`, which is
    smooth and close to linear in :math:`t`: each new point is the secant root
    of the two latest evaluations (or of the bracket ends when that root falls
    outside the bracket), moved by ``rtol / 2`` towards the end that did not move
    last (so that an accurate root closes the bracket in one more evaluation) and
    kept inside the bracket; a bisection replaces it when :math:`f` is not finite
    or when three steps in a row failed to halve the bracket. Every evaluation
    keeps the invariant (ratio above the threshold at the lower end, at or below it
    at the upper end), so the result is the same kind of bracket as plain
    bisection gives, in about half the evaluations (each one an eigen-solve).

    Parameters
    ----------
    D2 : ndarray of shape (N, N)
        Squared distances (symmetric, zero diagonal), float64 or float32; not
        modified.
    m : int
        Number of eigenvectors kept, constant included; ``m + 1 <= N``.
    threshold : float
        :math:`c_{ref}`, in (0, 1).
    epsilon_start, epsilon_stop : float
        The scan starts at ``epsilon_start`` (halving downwards if the ratio is
        already below the threshold there) and gives up above ``epsilon_stop``.
    solver : {"dense", "arpack"}, default="dense"
    rtol : float, default=1e-3
        Relative width of the final bracket; the returned value is its upper end,
        so the ratio is below the threshold there.
    random_state : numpy.random.Generator, default=None
        Start vectors of ARPACK.
    return_eigenpairs : bool, default=False
        Also return the top ``m + 1`` eigenpairs of :math:`P_S` at the returned
        bandwidth, so that the caller need not solve again (worth it with ARPACK,
        whose eigenvectors cost little more than its eigenvalues).

    Returns
    -------
    epsilon : float or None
        ``None`` when no bandwidth in the range has a gap.
    path : list of (float, float)
        Every (epsilon, ratio) evaluated, in order.
    eigenpairs : tuple of ndarray or None
        Only with ``return_eigenpairs``: ``(eigenvalues, eigenvectors)`` at
        ``epsilon`` as returned by :func:`top_eigenpairs`; ``None`` when
        ``epsilon`` is ``None``.
    """
    work = np.empty_like(D2)
    path = []
    pairs = {}

    def ratio(eps):
        P_S, _ = symmetric_diffusion_operator(D2, eps, out=work)
        result = top_eigenpairs(
            P_S,
            m + 1,
            solver=solver,
            values_only=not return_eigenpairs,
            random_state=random_state,
        )
        lam = result[0] if return_eigenpairs else result
        value = gap_ratio(lam, m)
        if return_eigenpairs and value <= threshold:
            # The result is a bandwidth evaluated with a gap; keep only the latest
            # such pairs (one N x (m + 1) array, not one per evaluation).
            pairs.clear()
            pairs[eps] = result
        path.append((eps, value))
        logger.debug("gap search: epsilon=%.6g ratio=%.4g", eps, value)
        return value

    epsilon = _search_gap(ratio, threshold, epsilon_start, epsilon_stop, rtol)
    if return_eigenpairs:
        return epsilon, path, pairs.get(epsilon)
    return epsilon, path


def _search_gap(ratio, threshold, epsilon_start, epsilon_stop, rtol):
    """Geometric scan to a factor-2 bracket of the first crossing, then narrowing."""
    eps = float(epsilon_start)
    value = ratio(eps)
    if value <= threshold:
        # Already gapped at the start: walk down to find where the gap opens.
        hi, r_hi = eps, value
        for _ in range(60):
            eps /= 2.0
            value = ratio(eps)
            if value > threshold:
                lo, r_lo = eps, value
                break
            hi, r_hi = eps, value
        else:
            return hi
    else:
        lo, r_lo = eps, value
        while True:
            eps *= 2.0
            if eps > epsilon_stop:
                return None
            value = ratio(eps)
            if value <= threshold:
                hi, r_hi = eps, value
                break
            lo, r_lo = eps, value
    return _narrow_bracket(ratio, threshold, lo, r_lo, hi, r_hi, rtol)


def _narrow_bracket(ratio, threshold, lo, r_lo, hi, r_hi, rtol):
    """Safeguarded secant in log-log; returns the upper end of the final bracket."""
    log_c = math.log(threshold)

    def f(value):
        return math.log(value) - log_c if 0.0 < value < math.inf else math.nan

    t_lo, t_hi = math.log(lo), math.log(hi)
    f_lo, f_hi = f(r_lo), f(r_hi)
    # The two latest evaluations, for the secant.
    last = [(t_lo, f_lo), (t_hi, f_hi)]
    width_tol = math.log1p(rtol)
    side, slow = 0, 0
    while t_hi - t_lo > width_tol:
        width = t_hi - t_lo
        margin = min(0.5 * width_tol, 0.25 * width)
        t = math.nan
        (t0, f0), (t1, f1) = last
        if slow < 3 and math.isfinite(f0) and math.isfinite(f1) and f0 != f1:
            t = t1 - f1 * (t1 - t0) / (f1 - f0)
        if not t_lo < t < t_hi and slow < 3 and f_lo > f_hi:
            # Regula falsi on the bracket ends instead (False with a nan).
            t = t_lo + f_lo * width / (f_lo - f_hi)
        if math.isfinite(t):
            # Aim just past the estimated root, towards the end that did not move
            # last: once the estimate is good, that evaluation closes the bracket.
            t = min(max(t - side * margin, t_lo + margin), t_hi - margin)
        else:
            t, slow = 0.5 * (t_lo + t_hi), 0
        eps = math.exp(t)
        value = ratio(eps)
        last = [last[1], (t, f(value))]
        if value <= threshold:
            hi, t_hi, f_hi, side = eps, t, last[1][1], 1
        else:
            t_lo, f_lo, side = t, last[1][1], -1
        slow = slow + 1 if t_hi - t_lo > 0.5 * width else 0
    return hi


def projection_errors(basis, Y):
    r"""Relative Euclidean projection error of ``Y`` onto nested spans of ``basis``.

    For each :math:`m = 1, \dots, M`, with :math:`\Pi_m` the orthogonal projector onto
    the span of the first ``m`` columns of ``basis`` and :math:`Y_c` the centred
    ``Y``,

    .. math:: e(m) = \|Y_c - \Pi_m Y_c\|_F / \|Y_c\|_F .

    When the first column is constant (diffusion maps), :math:`\Pi_m Y` and
    :math:`\Pi_m Y_c` differ by exactly the mean, so this is the relative error of the
    least-squares reconstruction of ``Y`` (PLoM_SPEC step 6: :math:`z_d g^T`).

    Parameters
    ----------
    basis : ndarray of shape (N, M)
        Linearly independent columns.
    Y : ndarray of shape (N, n_features)

    Returns
    -------
    errors : ndarray of shape (M,)
        Non-increasing in m (a nested family of projections).
    """
    Q, _ = np.linalg.qr(basis)
    Yc = Y - Y.mean(axis=0)
    total = np.einsum("ij,ij->", Yc, Yc)
    if total == 0.0:
        return np.zeros(basis.shape[1])
    C = Q.T @ Yc
    residual = total - np.cumsum(np.einsum("ij,ij->i", C, C))
    # Cumulative subtraction loses digits near zero; the error cannot be negative.
    return np.sqrt(np.clip(residual, 0.0, None) / total)
