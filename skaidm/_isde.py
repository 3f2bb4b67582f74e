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

    Parameters
    ----------
    eta : ndarray of shape (N, r)
        Whitened training data (N - 1 convention).

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
    """

    def __init__(self, eta):
        n, r = eta.shape
        self.s, self.s_hat = kde_bandwidths(n, r)
        self.H = eta * (self.s_hat / self.s)
        self.inv_var = 1.0 / self.s_hat**2
        # Bias of the logits: -||h_j||^2 / (2 s_hat^2).
        self.bias = -0.5 * self.inv_var * np.einsum("ij,ij->i", self.H, self.H)
        self.block = max(FORCE_MIN_BLOCK_ROWS, FORCE_BLOCK_ENTRIES // n)
        # Keys [H / s_hat^2, bias, 1], stored transposed so that the first product
        # is a plain (non-transposed) GEMM; values [H, 1].
        self._keys_t = np.empty((r + 2, n))
        np.multiply(self.H.T, self.inv_var, out=self._keys_t[:r])
        self._keys_t[r] = self.bias
        self._keys_t[r + 1] = 1.0
        self._values = np.empty((n, r + 1))
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
            Queries :math:`[U, \mathbf 1, -c]` (block x (r + 2)), weights
            :math:`E` (block x N) and products :math:`[S, \sigma]`
            (block x (r + 1)).
        """
        n, r = self.H.shape
        block = max(1, min(self.block, n_particles))
        query = np.empty((block, r + 2))
        query[:, r] = 1.0
        return query, np.empty((block, n)), np.empty((block, r + 1))

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
            np.einsum("ij,ij->i", U_b, U_b, out=q[:, r + 1])
            q[:, r + 1] *= -0.5 * self.inv_var
            E = np.matmul(q, self._keys_t, out=weights[:k])
            np.exp(E, out=E)
            S = np.matmul(E, self._values, out=sums[:k])
            sigma = S[:, r]
            low = np.flatnonzero(~(sigma >= FORCE_UNDERFLOW))
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


def integrate(potential, eta, Q, *, f0, dr, n_steps, rng, constraint=None):
    r"""One realisation of the reduced ISDE, Stormer-Verlet (PLOM_SPEC steps 8-10 B).

    In the row convention, with :math:`Q` an orthonormal basis of span(g) (so the
    decoder of PLoM is :math:`a = Q`), :math:`Z \in \mathbb{R}^{m\times r}` and
    :math:`b = f_0\Delta r / 4`:

    .. math::

        Z_{\ell+1/2} &= Z_\ell + \tfrac{\Delta r}{2} Y_\ell \\
        Y_{\ell+1} &= \tfrac{1-b}{1+b}Y_\ell + \tfrac{1}{1+b}\,Q^T\big(
            \Delta r\,L(Q Z_{\ell+1/2}) + \sqrt{f_0}\,\Delta W_{\ell+1}\big) \\
        Z_{\ell+1} &= Z_{\ell+1/2} + \tfrac{\Delta r}{2} Y_{\ell+1}

    from :math:`Z_0 = Q^T\eta` and :math:`Y_0 = Q^T\mathcal N`, with
    :math:`\Delta W` of shape (N, r) and i.i.d. :math:`\mathcal N(0, \Delta r)`
    entries. The noise is drawn in the full N-row space and projected, so the
    result depends on the basis only through the projector :math:`QQ^T` (span
    invariance, PLOM_SPEC F7) for given random numbers.

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
    rng : numpy.random.Generator
    constraint : MomentConstraints, default=None
        With multipliers :math:`\lambda`, the force becomes
        :math:`L - \nabla(\lambda^T h)` (Kullback-Leibler minimum under moment
        constraints).

    Returns
    -------
    H : ndarray of shape (N, r)
        The realisation :math:`Q Z_{M_0}`, N new rows in whitened coordinates.
    """
    n, r = eta.shape
    b = 0.25 * f0 * dr
    keep, kick = (1.0 - b) / (1.0 + b), 1.0 / (1.0 + b)
    noise_scale = math.sqrt(f0 * dr)
    Z = Q.T @ eta
    Y = Q.T @ rng.standard_normal((n, r))
    U = np.empty((n, r))
    L = np.empty((n, r))
    noise = np.empty((n, r))
    QtL = np.empty_like(Z)
    workspace = potential.workspace(n)
    for _ in range(n_steps):
        Z += 0.5 * dr * Y
        np.matmul(Q, Z, out=U)
        potential.force(U, out=L, workspace=workspace)
        if constraint is not None:
            constraint.add_force(U, L)
        L *= dr
        # Same numbers as rng.standard_normal((n, r)), without an allocation.
        rng.standard_normal(out=noise)
        noise *= noise_scale
        L += noise
        Y *= keep
        np.matmul(Q.T, L, out=QtL)
        QtL *= kick
        Y += QtL
        Z += 0.5 * dr * Y
    return Q @ Z


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
