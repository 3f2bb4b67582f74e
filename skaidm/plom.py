"""PLoMSampler: Probabilistic Learning on Manifolds as a scikit-learn estimator."""

import itertools
import logging
import numbers
import warnings
from contextlib import nullcontext

import joblib
import numpy as np
import scipy.linalg
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._isde import (
    CONSTRAINT_KINDS,
    COVARIANCE_MAX_DIM,
    KDEPotential,
    MomentConstraints,
    auto_n_steps,
    canonical_basis,
    integrate,
    isde_step_size,
    kde_bandwidths,
)
from ._random import call_seed, derived_seed, fitted_generator
from ._validation import is_int, is_real
from .attention import AttentionPreconditioner, kernel_metric_factor
from .diffusion import AnisotropicDiffusionMap
from .whitening import WhiteningPCA

__all__ = ["PLoMSampler", "realisation_batches", "realisation_blas_threads"]

# BLAS threads of each realisation when realisations run concurrently (more than one
# worker): one, so that the workers share the cores instead of oversubscribing them.
# A single worker (n_jobs=1, or a single realisation) keeps the BLAS thread count
# as it is, all cores by default. See realisation_blas_threads.
PARALLEL_BLAS_THREADS = 1

# Relaxation of the constraint solver's Newton steps: start, growth after an
# improvement, cap. The projected, finite-time dynamics responds to the multipliers
# more or less strongly than the covariance of h predicts (more on the PLOM_SPEC sets,
# where full steps overshoot; less on the USGS library), hence a growing step that is
# halved whenever the residual gets worse.
ALPHA_START, ALPHA_GROWTH, ALPHA_MAX = 0.3, 1.5, 4.0

logger = logging.getLogger(__name__)


def _progress(iterable, total, verbose, desc):
    """Report the progress of ``iterable`` (tqdm when installed, else logging).

    Each item is an array whose first axis counts towards ``total``.
    """
    if not verbose:
        yield from iterable
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        done = 0
        for item in iterable:
            done += len(item)
            logger.info("%s: %d/%d", desc, done, total)
            yield item
        return
    with tqdm(total=total, desc=desc) as bar:
        for item in iterable:
            bar.update(len(item))
            yield item


def realisation_blas_threads(n_jobs, n_batches):
    """BLAS threads each batch of realisations uses for a given ``n_jobs``.

    Realisations are independent, so running them side by side scales better than
    splitting each small matrix product over threads: when more than one worker
    runs (``min(effective n_jobs, n_batches) > 1``, the effective ``n_jobs``
    taking any ``joblib.parallel_config`` into account), every batch is limited
    to ``PARALLEL_BLAS_THREADS`` (1) BLAS thread with threadpoolctl, and the
    limit is restored afterwards. With a single worker the batches run in the
    calling process with the BLAS thread count left as it is (all cores by
    default).

    Parameters
    ----------
    n_jobs : int or None
        The sampler's ``n_jobs``.
    n_batches : int
        Number of batches of realisations to run (see
        :func:`realisation_batches`).

    Returns
    -------
    blas_threads : int or None
        ``None`` (unchanged) for a single worker, else ``PARALLEL_BLAS_THREADS``.
    """
    workers = min(joblib.effective_n_jobs(n_jobs), n_batches)
    return None if workers <= 1 else PARALLEL_BLAS_THREADS


FORCE_PRECISIONS = {"single": np.float32, "double": np.float64}

# Fewest kernel entries per step (particles x N) of a batch when realisations are
# shared out over several workers. Measured on two cores, n_jobs=2 against n_jobs=1:
# 300-row set, 8 realisations (3.6e5 entries per worker) 0.80x, 24 realisations
# (1.1e6) 1.13x; 860 rows, 8 realisations (3.0e6) 1.29x.
PARALLEL_MIN_BATCH_ENTRIES = 2**20


def realisation_batches(n_realisations, n_samples_fit, block, n_jobs):
    """Sizes of the batches of realisations integrated together.

    A batch stacks the particles of its realisations into one force evaluation
    (:func:`skaidm._isde.integrate`): as many realisations as fill one block of the
    force (``block // n_samples_fit``, at least one). With several workers (the
    effective ``n_jobs``), the realisations are shared out evenly, down to batches
    of ``PARALLEL_MIN_BATCH_ENTRIES`` kernel entries per step (particles x N):
    smaller ones run faster together, in one batch with every BLAS thread.

    Parameters
    ----------
    n_realisations, n_samples_fit : int
    block : int
        Particles per block of the force (``KDEPotential.block``).
    n_jobs : int or None
        The sampler's ``n_jobs``.

    Returns
    -------
    sizes : list of int
        Batch sizes, summing to ``n_realisations``.
    """
    workers = max(1, joblib.effective_n_jobs(n_jobs))
    share = -(-n_realisations // workers)
    least = -(-PARALLEL_MIN_BATCH_ENTRIES // n_samples_fit**2)
    per_batch = min(max(1, block // n_samples_fit), n_realisations, max(share, least))
    sizes = [per_batch] * (n_realisations // per_batch)
    if n_realisations % per_batch:
        sizes.append(n_realisations % per_batch)
    return sizes


def _realisation(potential, eta, Q, f0, dr, n_steps, seeds, constraint, blas_threads):
    rngs = [np.random.default_rng(seed) for seed in seeds]
    kwargs = {"f0": f0, "dr": dr, "n_steps": n_steps, "rngs": rngs}
    if blas_threads is None:
        return integrate(potential, eta, Q, constraint=constraint, **kwargs)
    # In the worker itself: worker processes (loky, Dask) have their own BLAS.
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return integrate(potential, eta, Q, constraint=constraint, **kwargs)


class PLoMSampler(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Generate new rows with Probabilistic Learning on Manifolds (PLoM).

    Whitens the data, builds the diffusion-map basis :math:`g` of the whitened rows
    (:class:`AnisotropicDiffusionMap`), and samples the reduced Ito stochastic
    differential equation (ISDE) of Soize & Ghanem [1]_ whose invariant measure is
    the Gaussian kernel density estimate (KDE) of the whitened data, projected on
    span(g). Each realisation gives N new rows :math:`H = Z g^T` (one per training
    row) that stay on the manifold the data concentrate on; :meth:`sample` decodes
    them back to the input space.

    With ``kernel_attention`` the band weights of an :class:`AttentionPreconditioner`
    enter the diffusion-map kernel only ("Option B" of attention-informed diffusion
    maps): the data, the KDE and the force stay isotropic in whitened coordinates.

    Parameters
    ----------
    whitening : WhiteningPCA, default=None
        Whitening of the input; cloned into ``whitening_``. ``None`` means
        ``WhiteningPCA()`` (all numerically non-null components).
    diffusion_map : AnisotropicDiffusionMap, default=None
        Basis of the whitened rows; cloned into ``diffusion_map_``. ``None`` means
        ``AnisotropicDiffusionMap()`` (its ``"auto"`` rules). Its ``metric`` must be
        left at ``None`` when ``kernel_attention`` is given.
    kernel_attention : AttentionPreconditioner, default=None
        Band weights for the kernel metric (Option B), cloned and fitted on the
        input into ``kernel_attention_``. The diffusion map then uses the factor
        :math:`R = c\,S\,\Phi\Lambda^{1/2}` of
        :func:`~skaidm.attention.kernel_metric_factor`, normalised so that
        :math:`\mathrm{tr}(R^TR) = r`.
    constraints : {"variance", "moments", "covariance"} or None, default=None
        Restore the moments that projection shrinks (PLOM_SPEC F10) by the
        Kullback-Leibler minimum under constraints (Soize & Ghanem 2020, [2]_):
        ``"variance"``: :math:`E H_j^2 = 1`; ``"moments"``: also :math:`E H_j = 0`;
        ``"covariance"``: :math:`E HH^T = I` (only for r <= 30). The Lagrange
        multipliers are found at fit by a relaxed Newton iteration on
        ``constraint_realisations`` realisations with common random numbers; see
        ``constraint_history_``.
    constraint_max_iter : int, default=50
        Newton iterations of the constraint solver.
    constraint_tol : float, default=1e-2
        Relative residual :math:`\|b - E h\| / \|b\|` at which the solver stops.
    constraint_realisations : int, default=10
        Realisations per Newton iteration (their rows estimate :math:`E h`).
    f0 : float, default=4.0
        Damping :math:`f_0` of the ISDE (Soize's 2024 code: 4; the 2016 paper: 1.5;
        4 measured better on the built-in library, see ``docs/validation.md``).
    fac : float, default=20.0
        Time step :math:`\Delta r = 2\pi\hat s/\mathrm{Fac}`.
    n_steps : int or "auto", default="auto"
        Integration steps per realisation; ``"auto"`` is
        :math:`\lceil 4\ln 100/(f_0\Delta r)\rceil`, the time for the initial
        condition to be forgotten to 1%.
    force_precision : {"single", "double"}, default="single"
        Precision of the N-row work of each integration step: the matrix products
        and the ``exp`` of the ISDE force (:class:`~skaidm._isde.KDEPotential`)
        and the two projections; the m x r state of the integrator and the
        returned rows stay in double precision. ``"single"`` is about twice as
        fast; its force error is about 1e-7 of the size of the force's terms, far
        below the time-discretisation error, and with the same seeds its rows
        differ from ``"double"``'s by about 1e-5 or less in whitened units, so the
        statistics are the same (``docs/performance.md``).
    n_jobs : int, default=None
        Realisations run in parallel through joblib (``sklearn.utils.parallel``),
        so ``joblib.parallel_config(backend="dask")`` runs them on a Dask cluster.
        ``None`` means 1 unless in a joblib context. Threads are preferred (a
        ``joblib.parallel_config`` backend takes precedence). When more than one
        worker runs, each realisation uses one BLAS thread (threadpoolctl; the previous
        limit is restored); with one worker (``n_jobs=1`` or a single
        realisation) the realisations run in this process with every BLAS thread.
        See :func:`~skaidm.plom.realisation_blas_threads`. Realisations are
        integrated in batches (:func:`~skaidm.plom.realisation_batches`), each
        from its own seed: the rows do not depend on ``n_jobs`` or the backend
        beyond round-off (single-precision round-off with
        ``force_precision="single"``).
    random_state : int, RandomState instance or None, default=None
        Seeds, at fit, the generator from which :meth:`sample` draws when called
        without its own ``random_state``, and the diffusion map's landmarks and
        ARPACK start vector when its own ``random_state`` is None.
    verbose : int, default=0
        Report the progress of realisations (a tqdm bar when tqdm is installed,
        ``logging`` otherwise).

    Attributes
    ----------
    whitening_ : WhiteningPCA
        Fitted whitening; ``whitening_.n_components_`` is :math:`r`.
    diffusion_map_ : AnisotropicDiffusionMap
        Fitted diffusion map; ``diffusion_map_.n_components_`` is :math:`m`.
    kernel_attention_ : AttentionPreconditioner or None
        Fitted kernel attention (Option B).
    basis_ : ndarray of shape (n_samples_fit, m)
        Orthonormal basis :math:`Q` of span(g) used by the integrator.
    eta_ : ndarray of shape (n_samples_fit, r)
        Whitened training rows.
    s_, s_hat_ : float
        Silverman and modified Silverman bandwidths of the KDE (computed with r).
    step_size_ : float
        :math:`\Delta r`.
    n_steps_ : int
        Integration steps per realisation.
    constraint_multipliers_ : ndarray of shape (n_constraints,) or None
        Lagrange multipliers :math:`\lambda` used by :meth:`sample`.
    constraint_history_ : ndarray of shape (n_constraint_iter_,)
        Relative constraint residual at each Newton iteration (empty without
        constraints).
    n_constraint_iter_ : int
        Newton iterations run (0 without constraints).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when they are all strings.

    See Also
    --------
    WhiteningPCA : The whitening step.
    AnisotropicDiffusionMap : The diffusion-map basis and its epsilon/m rules.
    skaidm.make_aidm_pipeline : Scaling, attention and this sampler in a Pipeline.
    skaidm.sample : Sample a fitted pipeline and decode through every step.

    Notes
    -----
    With the whitened data :math:`\eta` (:math:`N\times r`), the modified Silverman
    bandwidth :math:`\hat s` and an orthonormal basis :math:`Q` of span(g), each
    realisation integrates (Stormer-Verlet, :math:`\Delta r = 2\pi\hat s/20`)

    .. math::

        dZ = Y\,dr, \qquad
        dY = Q^T L(QZ)\,dr - \tfrac12 f_0 Y\,dr + \sqrt{f_0}\,Q^T dW,

    from :math:`Z(0) = Q^T\eta` with a fresh velocity and fresh noise, and keeps
    :math:`QZ` at the last step (PLOM_SPEC steps 8-10, independent realisations).
    :math:`L = \nabla\log q` is the force of the KDE (see
    :class:`~skaidm._isde.KDEPotential`). :math:`Q^T dW` has i.i.d. normal
    entries, so it is drawn directly (m r numbers per step, not N r), in the
    coordinates of the basis :func:`~skaidm._isde.canonical_basis`, which depends
    on g only through its span: any basis of span(g) gives the same samples
    (PLOM_SPEC F7), and no inverse of :math:`g^Tg` is ever formed.

    Projected PLoM without constraints shrinks the variance of the generated rows
    (PLOM_SPEC F10): with :math:`m = r + 1` their whitened variances are about
    0.6-0.85, not 1.

    References
    ----------
    .. [1] C. Soize and R. Ghanem, "Data-driven probability concentration and
       sampling on manifold", J. Comput. Phys. 321 (2016) 242-258,
       :doi:`10.1016/j.jcp.2016.05.044`.
    .. [2] C. Soize and R. Ghanem, "Physics-constrained non-Gaussian probabilistic
       learning on manifolds", Int. J. Numer. Methods Eng. 121 (2020) 110-145,
       :doi:`10.1002/nme.6202`.

    Examples
    --------
    >>> from skaidm import PLoMSampler
    >>> from skaidm.datasets import make_helix
    >>> X = make_helix(random_state=0)
    >>> plom = PLoMSampler(random_state=0).fit(X)
    >>> plom.diffusion_map_.n_components_, plom.n_steps_
    (4, 36)
    >>> plom.sample(500, random_state=1).shape
    (500, 3)
    """

    def __init__(
        self,
        whitening=None,
        diffusion_map=None,
        kernel_attention=None,
        constraints=None,
        *,
        constraint_max_iter=50,
        constraint_tol=1e-2,
        constraint_realisations=10,
        f0=4.0,
        fac=20.0,
        n_steps="auto",
        force_precision="single",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.whitening = whitening
        self.diffusion_map = diffusion_map
        self.kernel_attention = kernel_attention
        self.constraints = constraints
        self.constraint_max_iter = constraint_max_iter
        self.constraint_tol = constraint_tol
        self.constraint_realisations = constraint_realisations
        self.f0 = f0
        self.fac = fac
        self.n_steps = n_steps
        self.force_precision = force_precision
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        for name, cls in (
            ("whitening", WhiteningPCA),
            ("diffusion_map", AnisotropicDiffusionMap),
            ("kernel_attention", AttentionPreconditioner),
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, cls):
                raise TypeError(
                    f"{name} must be None or a {cls.__name__}, got "
                    f"{type(value).__name__}."
                )
        for name in ("f0", "fac"):
            value = getattr(self, name)
            if not (is_real(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive finite number.")
        if self.constraints is not None and self.constraints not in CONSTRAINT_KINDS:
            raise ValueError(
                f"constraints={self.constraints!r} must be None or one of "
                f"{CONSTRAINT_KINDS}."
            )
        for name in ("constraint_max_iter", "constraint_realisations"):
            value = getattr(self, name)
            if not (is_int(value) and value >= 1):
                raise ValueError(f"{name}={value!r} must be an int >= 1.")
        if not (
            isinstance(self.constraint_tol, numbers.Real) and self.constraint_tol > 0
        ):
            raise ValueError(
                f"constraint_tol={self.constraint_tol!r} must be a positive number."
            )
        if self.n_steps != "auto" and not (is_int(self.n_steps) and self.n_steps >= 1):
            raise ValueError(f"n_steps={self.n_steps!r} must be an int >= 1 or 'auto'.")
        if self.force_precision not in FORCE_PRECISIONS:
            raise ValueError(
                f"force_precision={self.force_precision!r} must be 'single' or "
                "'double'."
            )
        if (
            self.kernel_attention is not None
            and self.diffusion_map is not None
            and self.diffusion_map.metric is not None
        ):
            raise ValueError(
                "kernel_attention sets the diffusion map's metric; leave "
                "diffusion_map.metric=None (or drop kernel_attention)."
            )

    def fit(self, X, y=None):
        """Whiten X, build the diffusion-map basis and prepare the sampler.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (e.g. robust-scaled spectra).
        y : None
            Ignored.

        Returns
        -------
        self : PLoMSampler
            Fitted estimator.
        """
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=3)
        self._sample_rng = fitted_generator(self.random_state)
        whitening = self.whitening if self.whitening is not None else WhiteningPCA()
        self.whitening_ = clone(whitening).fit(X)
        eta = self.whitening_.transform(X)
        r = eta.shape[1]
        if self.constraints == "covariance" and r > COVARIANCE_MAX_DIM:
            raise ValueError(
                f"constraints='covariance' needs r (r + 1) / 2 = {r * (r + 1) // 2} "
                f"multipliers at r = {r}; it is offered for r <= {COVARIANCE_MAX_DIM}. "
                "Use constraints='moments' (E H = 0 and E H_j^2 = 1)."
            )
        dmap = clone(
            self.diffusion_map
            if self.diffusion_map is not None
            else AnisotropicDiffusionMap()
        )
        if dmap.random_state is None:
            # Landmarks and ARPACK's start vector follow the sampler's seed.
            dmap.set_params(random_state=derived_seed(self.random_state))
        if self.kernel_attention is not None:
            self.kernel_attention_ = clone(self.kernel_attention).fit(X)
            dmap.set_params(
                metric=kernel_metric_factor(self.whitening_, self.kernel_attention_)
            )
        else:
            self.kernel_attention_ = None
        self.diffusion_map_ = dmap.fit(eta)

        # Orthonormal basis of span(g) = span(psi); psi is far better conditioned
        # than g = lambda^kappa psi (PLOM_SPEC pitfall 3).
        # canonical_basis: a function of the span only, so that the reduced noise
        # keeps the samples a function of span(g) (PLOM_SPEC F7).
        self.basis_ = canonical_basis(self.diffusion_map_.eigenvectors_)
        self.eta_ = eta
        self.s_, self.s_hat_ = kde_bandwidths(*eta.shape)
        self.step_size_ = isde_step_size(self.s_hat_, self.fac)
        self.n_steps_ = (
            auto_n_steps(self.f0, self.step_size_)
            if self.n_steps == "auto"
            else int(self.n_steps)
        )
        self._solve_constraints()
        logger.info(
            "PLoM: N=%d, r=%d, m=%d, s_hat=%.4g, dr=%.4g, %d steps per realisation",
            X.shape[0],
            eta.shape[1],
            self.basis_.shape[1],
            self.s_hat_,
            self.step_size_,
            self.n_steps_,
        )
        return self

    def _constraint(self):
        if self.constraint_multipliers_ is None:
            return None
        return MomentConstraints(
            self.constraints, self.eta_.shape[1], self.constraint_multipliers_
        )

    def _solve_constraints(self):
        r"""Lagrange multipliers by a relaxed Newton iteration (PLOM_SPEC section 2).

        :math:`\lambda_{i+1} = \lambda_i - \alpha_i\,[\mathrm{cov}\,h]^{-1}
        (b - E h)`, the moments estimated on the rows of ``constraint_realisations``
        realisations drawn with the same random numbers at every iteration (common
        random numbers make the residual a deterministic function of
        :math:`\lambda`). The relaxation :math:`\alpha` starts at ``ALPHA_START``,
        grows by ``ALPHA_GROWTH`` after every improvement up to ``ALPHA_MAX``, and
        is halved, with the step retried from the best point, after a worse
        residual.
        """
        self.constraint_multipliers_ = None
        self.constraint_history_ = np.empty(0)
        self.n_constraint_iter_ = 0
        if self.constraints is None:
            return
        r = self.eta_.shape[1]
        constraint = MomentConstraints(self.constraints, r)
        # Common random numbers: the same seeds at every Newton iteration.
        seeds = self._seeds(None).spawn(self.constraint_realisations)
        b = constraint.targets
        norm_b = np.linalg.norm(b)
        lam = np.zeros_like(b)
        alpha, best, history = ALPHA_START, None, []
        for _ in range(self.constraint_max_iter):
            constraint.multipliers = lam
            H = self._realisations(seeds, constraint).reshape(-1, r)
            h = constraint.statistics(H)
            residual = b - h.mean(axis=0)
            error = float(np.linalg.norm(residual) / norm_b)
            history.append(error)
            logger.info("constraints: iteration %d, residual %.3g", len(history), error)
            if best is None or error < best[0]:
                if best is not None:
                    alpha = min(ALPHA_MAX, ALPHA_GROWTH * alpha)
                cov = np.cov(h, rowvar=False)
                # A tiny ridge keeps the solve defined when some constraint is
                # (nearly) deterministic on the realisations.
                cov.flat[:: len(b) + 1] += 1e-10 * np.trace(cov) / len(b)
                step = scipy.linalg.solve(cov, residual, assume_a="pos")
                best = (error, lam, step)
            else:
                alpha *= 0.5
            if error <= self.constraint_tol:
                best = (error, lam)
                break
            lam = best[1] - alpha * best[2]
        self.constraint_multipliers_ = best[1]
        self.constraint_history_ = np.asarray(history)
        self.n_constraint_iter_ = len(history)
        if best[0] > self.constraint_tol:
            warnings.warn(
                f"The {self.constraints} constraints did not converge: residual "
                f"{best[0]:.3g} > constraint_tol={self.constraint_tol} after "
                f"constraint_max_iter={self.constraint_max_iter} "
                "iterations; sampling uses the best multipliers found. Increase "
                "constraint_max_iter or constraint_realisations, or loosen "
                "constraint_tol.",
                ConvergenceWarning,
                stacklevel=3,
            )

    @property
    def _n_features_out(self):
        """Number of output features of ``transform``, for feature names."""
        return self.diffusion_map_.n_components_

    # ----------------------------------------------------------------- sampling
    def sample_whitened(self, n_realisations, random_state=None):
        """Realisations of the reduced ISDE in whitened coordinates, in order.

        Parameters
        ----------
        n_realisations : int
            Number of realisations; each gives ``n_samples_fit`` rows, row ``j``
            tied to training row ``j``.
        random_state : int, Generator, RandomState, SeedSequence or None
            Seeds the realisations (one independent child seed each); ``None``
            draws from the generator seeded at fit.

        Returns
        -------
        H : ndarray of shape (n_realisations, n_samples_fit, r)
        """
        check_is_fitted(self)
        if not (is_int(n_realisations) and n_realisations >= 1):
            raise ValueError(
                f"n_realisations={n_realisations!r} must be a positive int."
            )
        seeds = self._seeds(random_state).spawn(int(n_realisations))
        return self._realisations(seeds, self._constraint())

    def _seeds(self, random_state):
        return call_seed(self._sample_rng, random_state)

    def _realisations(self, seeds, constraint=None):
        potential = KDEPotential(self.eta_, FORCE_PRECISIONS[self.force_precision])
        sizes = realisation_batches(
            len(seeds), self.eta_.shape[0], potential.block, self.n_jobs
        )
        blas_threads = realisation_blas_threads(self.n_jobs, len(sizes))
        bounds = np.cumsum([0, *sizes])
        tasks = (
            delayed(_realisation)(
                potential,
                self.eta_,
                self.basis_,
                self.f0,
                self.step_size_,
                self.n_steps_,
                seeds[start:stop],
                constraint,
                blas_threads,
            )
            for start, stop in itertools.pairwise(bounds)
        )
        if blas_threads is None:
            # One worker: in this process, with every BLAS thread.
            parallel, limit = Parallel(n_jobs=1, return_as="generator"), nullcontext()
        else:
            # Threads by default: the work is BLAS and NumPy ufuncs, which release
            # the GIL, and threads need neither worker start-up nor copies of the
            # data (measured on two cores, 20 realisations of the 300 x 50 set:
            # 0.7-1.1 s with threads, 1.2-1.3 s with warm loky processes). A
            # joblib.parallel_config backend (loky, Dask, ...) overrides this.
            parallel = Parallel(
                n_jobs=self.n_jobs, prefer="threads", return_as="generator"
            )
            # Thread workers share this process's BLAS: limit it here too, for the
            # whole run, so that the workers' own limits never race.
            limit = threadpool_limits(limits=blas_threads, user_api="blas")
        with limit:
            results = parallel(tasks)
            return np.concatenate(
                list(_progress(results, len(seeds), self.verbose, "PLoM realisations"))
            )

    def sample(self, n_samples=1, random_state=None):
        """Generate new rows in the input space.

        Runs ``ceil(n_samples / n_samples_fit)`` independent realisations, keeps
        all rows of the whole ones plus a random subset of the last, shuffles them
        (row ``j`` of a realisation is tied to training row ``j``, so an unshuffled
        prefix would be biased) and maps them back through the whitening.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, Generator, RandomState, SeedSequence or None
            With a value, the rows are exactly reproducible. ``None`` draws from a
            generator seeded at fit from the estimator's ``random_state`` and
            advanced by every call: successive calls differ, yet the sequence is
            reproducible and survives joblib persistence.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_in_)
            Generated rows.
        """
        check_is_fitted(self)
        if not (is_int(n_samples) and n_samples >= 1):
            raise ValueError(
                f"n_samples={n_samples!r} must be a positive int (the number of rows "
                "to generate)."
            )
        n_fit = self.eta_.shape[0]
        n_real = -(-n_samples // n_fit)
        seed = self._seeds(random_state)
        shuffle_seed, *seeds = seed.spawn(n_real + 1)
        H = self._realisations(seeds, self._constraint()).reshape(n_real * n_fit, -1)
        rng = np.random.default_rng(shuffle_seed)
        # Whole realisations plus a random subset of the last, then shuffled.
        n_whole = (n_real - 1) * n_fit
        last = n_whole + rng.choice(n_fit, n_samples - n_whole, replace=False)
        rows = np.concatenate([np.arange(n_whole), last])
        rng.shuffle(rows)
        return self.whitening_.inverse_transform(H[rows])

    # ------------------------------------------------------ transform / score
    def transform(self, X):
        """Whiten X, then diffusion coordinates (Nystrom extension).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        G : ndarray of shape (n_samples, m)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.diffusion_map_.transform(self.whitening_.transform(X))

    def inverse_transform(self, X):
        """Decode diffusion coordinates, then map back through the whitening.

        Parameters
        ----------
        X : array-like of shape (n_samples, m)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
        """
        check_is_fitted(self)
        G = check_array(X, dtype=np.float64)
        return self.whitening_.inverse_transform(
            self.diffusion_map_.inverse_transform(G)
        )

    def score_samples(self, X):
        r"""Log-density of the KDE at each row, in whitened coordinates.

        :math:`\log p_H(\eta(x))` with :math:`p_H` the Gaussian KDE of the
        whitened training data (bandwidth :math:`\hat s`), the invariant measure
        of the unprojected ISDE. It is a density of the *whitened* rows (no
        Jacobian of the whitening), so values are comparable between rows of one
        fitted sampler, not across whitening choices or variants; use
        :func:`skaidm.metrics.generation_scorer` for model selection.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return KDEPotential(self.eta_).log_density(self.whitening_.transform(X))

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` (see its caveats).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))
