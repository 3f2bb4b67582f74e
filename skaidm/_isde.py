"""Reduced ISDE of PLoM: KDE bandwidths, log-sum-exp force, Stormer-Verlet."""

# Pure array functions, row convention: a realisation is an (N, r) array whose rows
# are the N particles; the data eta are (N, r); the reduced basis is an (N, m)
# matrix Q with orthonormal columns spanning the diffusion-map basis g.

import math

import numpy as np
from scipy.special import logsumexp

# Entries of the (rows x N) weight block processed at once by the force: 2**24
# doubles = 128 MiB, so memory stays bounded for any N. Thin blocks make the two
# matrix products less efficient; measured on two cores at N = 20000, r = 50: 256
# rows per block 6.0 s per force, 1024 rows 4.8 s, 4096 rows 4.9 s; at N = 1000,
# r = 285: 64 rows 1.6x the time of one block. Blocks have at least
# FORCE_MIN_BLOCK_ROWS rows, hence at most
# max(128 MiB, FORCE_MIN_BLOCK_ROWS * N * 8 bytes) of work space.
FORCE_BLOCK_ENTRIES = 2**24
FORCE_MIN_BLOCK_ROWS = 256

# A particle whose unshifted weight sum falls below this is recomputed with the
# exact row-maximum shift. Above it every weight that matters is a normal double:
# the absolute rounding of an exp() result in the subnormal range is at most
# 2**-1075 ~ 2.5e-324, so N such errors stay far below 1e-16 of the sum for any N.
FORCE_UNDERFLOW = 1e-280

# The same threshold in single precision (smallest normal float32: 1.2e-38).
FORCE_UNDERFLOW_SINGLE = 1e-30

# In single precision the constant shift exp(-||h_j - u||^2 / (2 s_hat^2)) underflows
# (below FORCE_UNDERFLOW_SINGLE, an exponent of -69) once a particle's nearest data
# point is that far. A particle of the KDE is a data point plus s_hat times a standard
# normal vector of r coordinates, an exponent of about -r/2 +- sqrt(r/2): above this
# r the force shifts every row by its exact maximum instead (one more pass).
SINGLE_SHIFT_MAX_DIM = 100


def kde_bandwidths(n_samples, n_dims):
    r"""Silverman and modified Silverman bandwidths of PLoM's KDE.

    .. math::

        s = \Big(\frac{4}{N(2 + r)}\Big)^{1/(r + 4)}, \qquad
        \hat s = \frac{s}{\sqrt{s^2 + \frac{N - 1}{N}}},

    (PLOM_SPEC step 2, fact F3), with :math:`r` the whitened dimension, never the
    number of bands. With the N - 1 whitening the mixture has exactly mean 0 and
    covariance :math:`I` (fact F2).

    Parameters
    ----------
    n_samples : int
        N, number of training rows.
    n_dims : int
        r, whitened dimension.

    Returns
    -------
    s, s_hat : float
    """
    s = (4.0 / (n_samples * (2.0 + n_dims))) ** (1.0 / (n_dims + 4.0))
    s_hat = s / math.sqrt(s * s + (n_samples - 1.0) / n_samples)
    return s, s_hat


class KDEPotential:
    r"""The KDE of the whitened data and its force, in log-sum-exp form.

    With the shrunk data :math:`\hat h_j = (\hat s / s)\,\eta_j`,

    .. math::

        q(u) = \frac1N \sum_j \exp\Big(-\frac{\|\hat h_j - u\|^2}{2\hat s^2}\Big),
        \qquad
        L(u) = \nabla \log q(u) = \frac{1}{\hat s^2}
            \Big(\sum_j w_j(u)\,\hat h_j - u\Big),

    where :math:`w(u) = \mathrm{softmax}_j\big((u\cdot\hat h_j -
    \tfrac12\|\hat h_j\|^2)/\hat s^2\big)` (PLOM_SPEC step 3). For a block of
    particles :math:`U` this is two matrix products and a row softmax, i.e. scaled
    dot-product attention with query :math:`U` and key = value = :math:`\hat H`.

    **Evaluation.** Any per-row shift :math:`c_i` of the logits leaves the softmax
    unchanged. The shift :math:`c_i = \|u_i\|^2/(2\hat s^2)` makes every
    exponent :math:`-\|\hat h_j - u_i\|^2/(2\hat s^2) \le 0` (no overflow), and
    it can be folded into the first product together with the bias, with one
    matrix product of inner dimension :math:`r + 2`:

    .. math::

        E = \exp\big([U,\ \mathbf 1,\ -c]\,
            [\hat H/\hat s^2,\ -\tfrac12\|\hat h\|^2/\hat s^2,\ \mathbf 1]^T\big),
        \qquad
        [S,\ \sigma] = E\,[\hat H,\ \mathbf 1],
        \qquad
        L = (S / \sigma - U)/\hat s^2 .

    The weights are never normalised: the (rows x r) result is divided by the row
    sums :math:`\sigma`, which come out of the second product as its last column.
    So a block costs the two matrix products plus a single pass (the ``exp``) over
    the (rows x N) block, written in place. A particle whose sum
    :math:`\sigma_i` falls below ``FORCE_UNDERFLOW`` (farther than about
    :math:`\sqrt{1290}\,\hat s` from every :math:`\hat h_j`) is recomputed with
    the exact row maximum as the shift, so the force stays finite and accurate
    (pointing to the nearest :math:`\hat h_j`) however far the particle is.

    **Single precision.** With ``dtype=np.float32`` the two products and the
    ``exp`` run in single precision (about twice as fast); the particles and the
    result may be in either precision (:func:`integrate` passes single). Up to
    r = ``SINGLE_SHIFT_MAX_DIM`` (100) the same constant shift is used, with the
    fallback for rows whose sum falls below
    ``FORCE_UNDERFLOW_SINGLE``; above it the constant shift would underflow
    single precision for typical particles, and the logits are shifted by their
    exact row maximum instead (one more pass over the block). Measured relative
    force error against double precision: about 1e-7; tests bound the error by
    1e-6 of the size of the force's terms.

    Parameters
    ----------
    eta : ndarray of shape (N, r)
        Whitened training data (N - 1 convention).
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the products and the ``exp`` inside :meth:`force`.
    row_max_shift : bool or None, default=None
        Shift the logits by their row maximum rather than by the constant shift;
        ``None``: only in single precision with r > ``SINGLE_SHIFT_MAX_DIM``.

    Attributes
    ----------
    s, s_hat : float
        Silverman and modified Silverman bandwidths.
    H : ndarray of shape (N, r)
        Shrunk data :math:`\hat H`.
    inv_var : float
        :math:`1/\hat s^2`.
    bias : ndarray of shape (N,)
        :math:`-\|\hat h_j\|^2/(2\hat s^2)`.
    block : int
        Particles per block: ``max(FORCE_MIN_BLOCK_ROWS, FORCE_BLOCK_ENTRIES // N)``.
    dtype : numpy.dtype
        Precision of the force's products.
    row_max_shift : bool
        Whether the logits are shifted by their row maximum (single precision,
        r > ``SINGLE_SHIFT_MAX_DIM``) rather than by the constant shift.
    """

    def __init__(self, eta, dtype=np.float64, row_max_shift=None):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype={dtype!r} must be numpy.float64 or numpy.float32.")
        n, r = eta.shape
        self.s, self.s_hat = kde_bandwidths(n, r)
        self.H = eta * (self.s_hat / self.s)
        self.inv_var = 1.0 / self.s_hat**2
        # Bias of the logits: -||h_j||^2 / (2 s_hat^2).
        self.bias = -0.5 * self.inv_var * np.einsum("ij,ij->i", self.H, self.H)
        self.block = max(FORCE_MIN_BLOCK_ROWS, FORCE_BLOCK_ENTRIES // n)
        # Keys [H / s_hat^2, bias, 1], stored transposed so that the first product
        # is a plain (non-transposed) GEMM; values [H, 1].
        if row_max_shift is None:
            row_max_shift = self.dtype == np.float32 and r > SINGLE_SHIFT_MAX_DIM
        self.row_max_shift = bool(row_max_shift)
        self._underflow = (
            FORCE_UNDERFLOW if self.dtype == np.float64 else FORCE_UNDERFLOW_SINGLE
        )
        # With the row maximum as the shift there is no last key row.
        n_keys = r + 1 if self.row_max_shift else r + 2
        self._keys_t = np.empty((n_keys, n), dtype=self.dtype)
        np.multiply(self.H.T, self.inv_var, out=self._keys_t[:r])
        self._keys_t[r] = self.bias
        self._keys_t[r + 1 :] = 1.0
        self._values = np.empty((n, r + 1), dtype=self.dtype)
        self._values[:, :r] = self.H
        self._values[:, r] = 1.0

    def _logits(self, U, out=None):
        logits = np.matmul(U, self.H.T, out=out)
        logits *= self.inv_var
        logits += self.bias
        return logits

    def workspace(self, n_particles):
        r"""Work arrays of :meth:`force` for up to ``n_particles`` rows.

        One potential may serve several threads at once (realisations in
        parallel): each caller passes its own work space, or lets :meth:`force`
        allocate one per call.

        Returns
        -------
        workspace : tuple of ndarray
            Queries :math:`[U, \mathbf 1, -c]` (block x (r + 2); no
            :math:`-c` with ``row_max_shift``), weights :math:`E` (block x N) and
            products :math:`[S, \sigma]` (block x (r + 1)), in ``dtype``.
        """
        n, r = self.H.shape
        block = max(1, min(self.block, n_particles))
        query = np.empty((block, self._keys_t.shape[0]), dtype=self.dtype)
        query[:, r] = 1.0
        return (
            query,
            np.empty((block, n), dtype=self.dtype),
            np.empty((block, r + 1), dtype=self.dtype),
        )

    def force(self, U, out=None, workspace=None):
        r"""Force :math:`L(u) = \nabla\log q(u)` for every row of ``U``.

        Parameters
        ----------
        U : ndarray of shape (n_particles, r)
        out : ndarray of shape (n_particles, r), default=None
            Where to write the result; must not overlap ``U``.
        workspace : tuple of ndarray, default=None
            From :meth:`workspace` (for at least ``n_particles`` rows or a full
            block); ``None`` allocates one.

        Returns
        -------
        L : ndarray of shape (n_particles, r)
        """
        n_particles = U.shape[0]
        if out is None:
            out = np.empty_like(U)
        r = self.H.shape[1]
        if workspace is None:
            workspace = self.workspace(n_particles)
        query, weights, sums = workspace
        block = query.shape[0]
        for start in range(0, n_particles, block):
            stop = min(start + block, n_particles)
            k = stop - start
            U_b, q = U[start:stop], query[:k]
            q[:, :r] = U_b
            if self.row_max_shift:
                E = np.matmul(q, self._keys_t, out=weights[:k])
                E -= E.max(axis=1, keepdims=True)
            else:
                q[:, r + 1] = np.einsum("ij,ij->i", U_b, U_b)
                q[:, r + 1] *= -0.5 * self.inv_var
                E = np.matmul(q, self._keys_t, out=weights[:k])
            np.exp(E, out=E)
            S = np.matmul(E, self._values, out=sums[:k])
            sigma = S[:, r]
            low = np.flatnonzero(~(sigma >= self._underflow))
            if low.size:
                S[low] = self._exact_sums(U_b[low])
            L = np.divide(S[:, :r], S[:, r:], out=out[start:stop])
            L -= U_b
            L *= self.inv_var
        return out

    def _exact_sums(self, U):
        """``[S, sigma]`` with the row maximum as the shift, for far particles."""
        E = self._logits(U)
        E -= E.max(axis=1, keepdims=True)
        np.exp(E, out=E)
        return E @ self._values

    def log_density(self, U):
        r"""Log of the normalised KDE :math:`p_H(u)` for every row of ``U``.

        :math:`\log p_H(u) = \log q(u) - \tfrac{r}{2}\log(2\pi\hat s^2)`.
        """
        r = U.shape[1]
        out = np.empty(U.shape[0])
        const = -math.log(self.H.shape[0]) - 0.5 * r * math.log(
            2 * math.pi / self.inv_var
        )
        for start in range(0, U.shape[0], self.block):
            rows = slice(start, start + self.block)
            logits = self._logits(U[rows])
            sq = np.einsum("ij,ij->i", U[rows], U[rows])
            out[rows] = logsumexp(logits, axis=1) - 0.5 * self.inv_var * sq + const
        return out


def isde_step_size(s_hat, fac):
    r"""Time step :math:`\Delta r = 2\pi\hat s / \mathrm{Fac}` (PLOM_SPEC step 9)."""
    return 2.0 * math.pi * s_hat / fac


def auto_n_steps(f0, dr):
    r"""Steps to damp the initial condition to 1%: :math:`4\ln 100 / (f_0\Delta r)`.

    Soize's estimate :math:`M_0 = 2\ln(100)\,\mathrm{Fac}/(\pi f_0 \hat s)` (PLOM_SPEC
    step 10 B), i.e. :math:`e^{-f_0 M_0 \Delta r / 4} = 10^{-2}`, rounded up.
    """
    return max(1, math.ceil(4.0 * math.log(100.0) / (f0 * dr)))


def canonical_basis(g):
    r"""The orthonormal basis of span(g) that depends on ``g`` only through its span.

    With :math:`Q_0` any orthonormal basis of span(g) (a QR factor) and a fixed
    probe :math:`P` (N x m, standard normal entries from seed 0), the basis is
    :math:`Q = Q_0\,UV^T` where :math:`Q_0^TP = U\Sigma V^T`: the polar factor
    makes :math:`Q` the orthonormal basis of the span closest to :math:`P`
    (orthogonal Procrustes). Replacing :math:`g` by :math:`gT` (:math:`T`
    invertible) changes :math:`Q_0` into :math:`Q_0R` with :math:`R` orthogonal,
    hence :math:`U` into :math:`R^TU`, and leaves :math:`Q` unchanged. So the
    reduced noise of :func:`integrate`, drawn in the coordinates of :math:`Q`,
    keeps the samples a function of span(g) and the random numbers only
    (PLOM_SPEC F7). :math:`Q_0^TP` is an m x m standard normal matrix, almost
    surely invertible.

    Parameters
    ----------
    g : ndarray of shape (N, m)
        Any basis of the span (full column rank).

    Returns
    -------
    Q : ndarray of shape (N, m)
        Orthonormal columns.
    """
    Q0, _ = np.linalg.qr(g)
    probe = np.random.default_rng(0).standard_normal(Q0.shape)
    U, _, Vt = np.linalg.svd(Q0.T @ probe)
    return Q0 @ (U @ Vt)


def integrate(potential, eta, Q, *, f0, dr, n_steps, rngs, constraint=None):
    r"""Realisations of the reduced ISDE, Stormer-Verlet (PLOM_SPEC steps 8-10 B).

    In the row convention, with :math:`Q` an orthonormal basis of span(g) (so the
    decoder of PLoM is :math:`a = Q`), :math:`Z \in \mathbb{R}^{m\times r}` and
    :math:`b = f_0\Delta r / 4`:

    .. math::

        Z_{\ell+1/2} &= Z_\ell + \tfrac{\Delta r}{2} Y_\ell \\
        Y_{\ell+1} &= \tfrac{1-b}{1+b}Y_\ell + \tfrac{1}{1+b}\big(
            \Delta r\,Q^T L(Q Z_{\ell+1/2}) + \sqrt{f_0}\,\Delta\hat W_{\ell+1}\big) \\
        Z_{\ell+1} &= Z_{\ell+1/2} + \tfrac{\Delta r}{2} Y_{\ell+1}

    from :math:`Z_0 = Q^T\eta` and :math:`Y_0 = \hat{\mathcal N}`. The noise of
    the full N-row ISDE enters only projected, :math:`Q^T\Delta W`, and for
    orthonormal :math:`Q` that is exactly an m x r matrix of i.i.d.
    :math:`\mathcal N(0, \Delta r)` entries: :math:`\Delta\hat W` and the
    m x r standard normal :math:`\hat{\mathcal N}` are drawn directly (m r
    random numbers per step instead of N r). With :math:`Q` from
    :func:`canonical_basis` the result depends on the basis only through span(g)
    for given random numbers (PLOM_SPEC F7).

    The realisations of ``rngs`` are integrated together: their particles are
    stacked so that every step is one product by :math:`Q`, one force
    evaluation over all particles and one product by :math:`Q^T` (larger, more
    efficient matrix products for small N). The projections and the force run
    in the potential's precision (``potential.dtype``), the m x r states and the
    returned realisations in double. Realisation ``k`` draws from
    ``rngs[k]`` only, so it does not depend on which others it is batched with
    (beyond round-off).

    Parameters
    ----------
    potential : KDEPotential
    eta : ndarray of shape (N, r)
    Q : ndarray of shape (N, m)
        Orthonormal columns.
    f0 : float
        Damping.
    dr : float
        Time step.
    n_steps : int
    rngs : sequence of numpy.random.Generator
        One generator per realisation.
    constraint : MomentConstraints, default=None
        With multipliers :math:`\lambda`, the force becomes
        :math:`L - \nabla(\lambda^T h)` (Kullback-Leibler minimum under moment
        constraints).

    Returns
    -------
    H : ndarray of shape (len(rngs), N, r)
        The realisations :math:`Q Z_{M_0}`, N new rows each in whitened
        coordinates.
    """
    n, r = eta.shape
    m, B = Q.shape[1], len(rngs)
    b = 0.25 * f0 * dr
    keep, kick = (1.0 - b) / (1.0 + b), 1.0 / (1.0 + b)
    noise_scale = math.sqrt(f0 * dr)
    # State of realisation k in Z[:, k, :] (m x B x r): the particles of every
    # realisation are then the rows of Q @ Z.reshape(m, B r), reshaped to (N B, r).
    Z = np.empty((m, B, r))
    Z[:] = (Q.T @ eta)[:, None, :]
    Y = np.empty((m, B, r))
    noise = np.empty((B, m, r))
    for k, rng in enumerate(rngs):
        rng.standard_normal(out=noise[k])
    Y[:] = noise.transpose(1, 0, 2)
    Z2, Y2 = Z.reshape(m, B * r), Y.reshape(m, B * r)
    # The N-row work (the two projections and the force) runs in the potential's
    # precision; the m x B r state stays in double.
    dtype = potential.dtype
    Q_w = Q.astype(dtype, copy=False)
    Z_w = Z2 if dtype == Z2.dtype else np.empty((m, B * r), dtype=dtype)
    U = np.empty((n, B * r), dtype=dtype)
    L = np.empty((n, B * r), dtype=dtype)
    QtL = np.empty((m, B * r), dtype=dtype)
    U_rows, L_rows = U.reshape(n * B, r), L.reshape(n * B, r)
    workspace = potential.workspace(n * B)
    for _ in range(n_steps):
        Z2 += 0.5 * dr * Y2
        if Z_w is not Z2:
            np.copyto(Z_w, Z2, casting="same_kind")
        np.matmul(Q_w, Z_w, out=U)
        potential.force(U_rows, out=L_rows, workspace=workspace)
        if constraint is not None:
            constraint.add_force(U_rows, L_rows)
        for k, rng in enumerate(rngs):
            rng.standard_normal(out=noise[k])
        np.matmul(Q_w.T, L, out=QtL)
        QtL *= dr * kick
        noise *= noise_scale * kick
        Y2 *= keep
        Y2 += QtL
        Y += noise.transpose(1, 0, 2)
        Z2 += 0.5 * dr * Y2
    return np.ascontiguousarray((Q @ Z2).reshape(n, B, r).transpose(1, 0, 2))


CONSTRAINT_KINDS = ("variance", "moments", "covariance")

# The "covariance" constraints grow as r (r + 1) / 2; beyond this r the Newton system
# (465 unknowns at r = 30) becomes costly and poorly estimated from the realisations.
COVARIANCE_MAX_DIM = 30


class MomentConstraints:
    r"""Soize's normalisation constraints :math:`E\{h(H)\} = b` and their force.

    The Kullback-Leibler minimum under the constraints has the density
    :math:`p \propto p_H \exp(-\lambda^T h)`, hence the ISDE force
    :math:`L(u) - \nabla_u(\lambda^T h(u))` (PLOM_SPEC section 2, "Variants";
    Soize & Ghanem 2020, :doi:`10.1002/nme.6202`). Per row :math:`u` of
    :math:`r` whitened coordinates:

    - ``"variance"`` (type 1): :math:`h = (u_j^2)_j`, :math:`b = 1`;
    - ``"moments"`` (type 2): :math:`h = (u_j, u_j^2)_j`, :math:`b = (0, 1)`;
    - ``"covariance"`` (type 3): :math:`h = (u_j u_k)_{j \le k}`,
      :math:`b = I` (upper triangle).

    Parameters
    ----------
    kind : {"variance", "moments", "covariance"}
    n_dims : int
        r.
    multipliers : ndarray of shape (n_constraints,), default=None
        :math:`\lambda`; ``None`` means zeros.
    """

    def __init__(self, kind, n_dims, multipliers=None):
        self.kind, self.n_dims = kind, n_dims
        r = n_dims
        if kind == "variance":
            self.targets = np.ones(r)
        elif kind == "moments":
            self.targets = np.r_[np.zeros(r), np.ones(r)]
        elif kind == "covariance":
            self._upper = np.triu_indices(r)
            self.targets = np.eye(r)[self._upper]
        else:
            raise ValueError(f"kind={kind!r} must be one of {CONSTRAINT_KINDS}.")
        self.multipliers = (
            np.zeros(len(self.targets)) if multipliers is None else multipliers
        )

    def statistics(self, U):
        """:math:`h(u)` for every row of ``U``: shape (n_rows, n_constraints)."""
        if self.kind == "variance":
            return U**2
        if self.kind == "moments":
            return np.hstack([U, U**2])
        i, j = self._upper
        return U[:, i] * U[:, j]

    def add_force(self, U, L):
        r"""``L -= grad(lambda^T h)(U)`` in place."""
        lam = self.multipliers
        r = self.n_dims
        if self.kind == "variance":
            L -= 2.0 * lam * U
        elif self.kind == "moments":
            L -= lam[:r]
            L -= 2.0 * lam[r:] * U
        else:
            # lambda^T h(u) = u^T A u with A symmetric: A_jj = lambda_jj and
            # A_jk = A_kj = lambda_jk / 2, so the gradient is 2 A u.
            A = np.zeros((r, r))
            A[self._upper] = lam
            A = 0.5 * (A + A.T)
            L -= 2.0 * (U @ A)
        return L
