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
# LAPACK's dense tridiagonalisation, whose O(N^3) cost dominates beyond a few thousand.
DENSE_EIGEN_MAX_ROWS = 3000

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


def squared_distances(Y, Z=None):
    r"""Squared Euclidean distances between rows, computed with one GEMM.

    :math:`\|y\|^2 + \|z\|^2 - 2 y \cdot z`, clamped at 0. Without ``Z`` the result
    is exactly symmetric with an exactly zero diagonal.

    Parameters
    ----------
    Y : ndarray of shape (n_samples_Y, n_features)
    Z : ndarray of shape (n_samples_Z, n_features), default=None
        ``None`` means ``Y``.

    Returns
    -------
    D2 : ndarray of shape (n_samples_Y, n_samples_Z)
    """
    sq_y = np.einsum("ij,ij->i", Y, Y)
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
        Symmetric squared distances with a zero diagonal.
    epsilon : float
        Bandwidth, paper convention.
    out : ndarray of shape (N, N), default=None
        Work array to write :math:`P_S` into (it may be reused across bandwidths).

    Returns
    -------
    P_S : ndarray of shape (N, N)
    b : ndarray of shape (N,)
        Row sums of the kernel (the diagonal of the degree matrix), each >= 1.
    """
    P_S = np.multiply(D2, -1.0 / (4.0 * epsilon), out=out)
    np.exp(P_S, out=P_S)
    b = P_S.sum(axis=1)
    inv_sqrt_b = 1.0 / np.sqrt(b)
    P_S *= inv_sqrt_b[:, None]
    P_S *= inv_sqrt_b[None, :]
    return P_S, b


def top_eigenpairs(P_S, k, *, solver="dense", values_only=False, random_state=None):
    """Largest ``k`` eigenpairs of the symmetric PSD matrix ``P_S``, descending.

    Parameters
    ----------
    P_S : ndarray of shape (N, N)
        Symmetric matrix; overwritten by the dense solver.
    k : int
        Number of eigenpairs, ``1 <= k <= N``.
    solver : {"dense", "arpack"}, default="dense"
        ``"dense"``: LAPACK ``syevr`` restricted to the top ``k`` indices
        (``scipy.linalg.eigh(subset_by_index=...)``), or all pairs with ``syevd``.
        ``"arpack"``: implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``),
        for large N and ``k`` well below N.
    values_only : bool, default=False
        Return only the eigenvalues.
    random_state : numpy.random.Generator, default=None
        Start vector of Lanczos; ``None`` uses a fixed generator.

    Returns
    -------
    eigenvalues : ndarray of shape (k,)
        Descending, negative round-off clipped to 0.
    eigenvectors : ndarray of shape (N, k)
        Orthonormal columns (absent when ``values_only``).
    """
    N = P_S.shape[0]
    if solver == "arpack" and k < N - 1:
        rng = np.random.default_rng(0) if random_state is None else random_state
        v0 = rng.uniform(-1.0, 1.0, N)
        result = scipy.sparse.linalg.eigsh(
            P_S, k=k, which="LA", v0=v0, return_eigenvectors=not values_only
        )
        vals, vecs = (result, None) if values_only else result
    else:
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


def knn_epsilon(D2, n_neighbors):
    r"""Bandwidth from the distance to the k-th nearest neighbour.

    .. math:: \varepsilon = \tfrac14\,\mathrm{median}_i\, d^2(x_i, x_{i,(k)})

    where :math:`x_{i,(k)}` is the k-th nearest neighbour of row i, itself excluded.

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
    kth = np.partition(D2, n_neighbors, axis=1)[:, n_neighbors]
    return float(np.median(kth)) / 4.0


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
):
    r"""Smallest bandwidth whose spectrum has a gap after the m-th eigenvalue.

    Soize's rule (PLoM_SPEC step 7): with :math:`m = r + 1`, the smallest
    :math:`\varepsilon` with :math:`\lambda_{m+1}/\lambda_m \le c_{ref}`. Instead of
    Soize's linear stepping with full eigendecompositions, the ratio is evaluated on
    the top :math:`m + 1` eigenvalues only, and the first crossing is bracketed on a
    geometric grid (factor 2) from ``epsilon_start``, then bisected in
    :math:`\log\varepsilon` until the bracket is narrower than ``rtol``. The ratio
    need not be monotone in :math:`\varepsilon` (PLoM_SPEC pitfall 13), which is why
    the scan walks up from below instead of bisecting a wide interval.

    Parameters
    ----------
    D2 : ndarray of shape (N, N)
        Squared distances (symmetric, zero diagonal); not modified.
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

    Returns
    -------
    epsilon : float or None
        ``None`` when no bandwidth in the range has a gap.
    path : list of (float, float)
        Every (epsilon, ratio) evaluated, in order.
    """
    work = np.empty_like(D2)
    path = []

    def ratio(eps):
        P_S, _ = symmetric_diffusion_operator(D2, eps, out=work)
        lam = top_eigenpairs(
            P_S, m + 1, solver=solver, values_only=True, random_state=random_state
        )
        value = gap_ratio(lam, m)
        path.append((eps, value))
        logger.debug("gap search: epsilon=%.6g ratio=%.4g", eps, value)
        return value

    eps = float(epsilon_start)
    if ratio(eps) <= threshold:
        # Already gapped at the start: walk down to find where the gap opens.
        hi = eps
        for _ in range(60):
            eps /= 2.0
            if ratio(eps) > threshold:
                lo = eps
                break
            hi = eps
        else:
            return hi, path
    else:
        lo = eps
        while True:
            eps *= 2.0
            if eps > epsilon_stop:
                return None, path
            if ratio(eps) <= threshold:
                hi = eps
                break
            lo = eps
    while hi / lo > 1.0 + rtol:
        mid = math.sqrt(lo * hi)
        if ratio(mid) <= threshold:
            hi = mid
        else:
            lo = mid
    return hi, path


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
