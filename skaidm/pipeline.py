"""The AIDM workflow as a plain scikit-learn Pipeline, and sampling through it."""

import numbers
import warnings

from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler
from sklearn.utils.validation import check_is_fitted

from .attention import (
    FULL_RANK_TRUNCATION,
    AttentionCancelledWarning,
    AttentionPreconditioner,
    check_attention_whitening,
)
from .bounds import BoundedTransform, _check_bounds
from .diffusion import AnisotropicDiffusionMap
from .plom import PLoMSampler
from .whitening import WhiteningPCA

__all__ = ["VARIANTS", "check_pipeline", "make_aidm_pipeline", "sample"]

VARIANTS = ("none", "A", "B")

# Defaults chosen by benchmarks/validate.py (docs/validation.md).
DEFAULT_VARIANT = "B"
DEFAULT_WHITENING = 0.99999
DEFAULT_RECONSTRUCTION_TOL = 0.1


def _can_truncate(n_components):
    if n_components is None:
        return False
    if isinstance(n_components, numbers.Real) and not isinstance(
        n_components, numbers.Integral
    ):
        return 1.0 - n_components >= FULL_RANK_TRUNCATION
    return True  # an int: whether it truncates depends on the rank, checked at use


def _check_pipeline_bounds(bounds):
    """Validate ``bounds=(low, high)`` of make_aidm_pipeline; returns the pair."""
    if isinstance(bounds, (str, bytes)) or not hasattr(bounds, "__len__"):
        raise ValueError(
            f"bounds={bounds!r} must be None or a pair (low, high), e.g. (0.0, None) "
            "for a lower bound or (0.0, 1.5) for both."
        )
    if len(bounds) != 2:
        raise ValueError(
            f"bounds={bounds!r} has {len(bounds)} elements; it must be a pair "
            "(low, high), e.g. (0.0, None) or (0.0, 1.5)."
        )
    low, high = bounds
    try:
        checked = _check_bounds(low, high)
    except ValueError as error:
        raise ValueError(f"bounds={bounds!r}: {error}") from error
    if checked == (None, None):
        raise ValueError(
            f"bounds={bounds!r} bounds nothing; pass bounds=None for no bounds step, "
            "or a finite low and/or high such as (0.0, None)."
        )
    return low, high


def make_aidm_pipeline(
    weights=None,
    alpha=1.0,
    variant=DEFAULT_VARIANT,
    *,
    bounds=None,
    constraints=None,
    whitening=DEFAULT_WHITENING,
    epsilon="auto",
    n_components="auto",
    reconstruction_tol=DEFAULT_RECONSTRUCTION_TOL,
    f0=4.0,
    n_jobs=None,
    random_state=None,
    verbose=0,
):
    r"""Build the attention-informed PLoM workflow as a scikit-learn Pipeline.

    Steps, with stable names (so grid keys never change):

    - ``variant="none"`` (plain PLoM): ``scale`` (:class:`~sklearn.preprocessing.
      RobustScaler`) -> ``plom`` (:class:`PLoMSampler`);
    - ``variant="A"`` (attention in the data): ``scale`` -> ``attention``
      (:class:`AttentionPreconditioner`) -> ``plom`` with a truncating whitening;
    - ``variant="B"`` (attention in the kernel): ``scale`` -> ``plom`` whose
      ``kernel_attention`` is an :class:`AttentionPreconditioner`.

    With ``bounds=(low, high)``, every variant starts with a ``bounds`` step
    (:class:`BoundedTransform`) before ``scale``: the model works on the real
    line and :func:`sample` decodes into the open interval.

    Every estimator is passed explicitly, so nested grid keys exist, e.g.
    ``plom__kernel_attention__alpha``, ``attention__alpha``,
    ``plom__whitening__n_components``, ``plom__diffusion_map__epsilon``,
    ``plom__diffusion_map__n_components``,
    ``plom__diffusion_map__reconstruction_tol``, ``plom__f0``,
    ``plom__constraints``, ``scale__quantile_range`` and, with ``bounds``,
    ``bounds__low`` and ``bounds__high``.

    Parameters
    ----------
    weights : array-like of shape (n_features,), default=None
        Band weights (e.g. from :func:`~skaidm.attention.read_weights`); ``None``
        means uniform. Ignored by ``variant="none"``.
    alpha : float, default=1.0
        Exponent of the weights: the metric weighs band :math:`j` by
        :math:`w_j^\alpha`.
    variant : {"none", "A", "B"}, default="B"
        Where the attention goes; see above. Option A is only meaningful with a
        truncating whitening: with all components kept, whitening cancels the
        preconditioning exactly and A *is* plain PLoM (a warning says so).
    bounds : tuple (low, high) or None, default=None
        Open interval of the data, e.g. ``(0.0, None)`` (reflectance is positive:
        a log) or ``(0.0, 1.5)`` (a logit); ``low`` may be None if ``high`` is
        given. Generated spectra then lie inside it by construction. Training
        values outside it are an error; columns constant at fit (fill values of
        bad bands) pass through bit-exactly. ``None``: no bounds step.
    constraints : {"variance", "moments", "covariance"} or None, default=None
        Moment constraints of the :class:`PLoMSampler`, which restore the variance
        that projection on the diffusion basis shrinks.
    whitening : int, float or None, default=0.99999
        ``n_components`` of the :class:`WhiteningPCA`: a float is the fraction of
        variance kept (PLoM's truncation tolerance is one minus it).
    epsilon : float or {"auto", "gap", "knn"}, default="auto"
        Bandwidth rule of the :class:`AnisotropicDiffusionMap`.
    n_components : int or {"auto", "gap", "reconstruction"}, default="auto"
        Rule for m, the number of diffusion-map vectors (constant included).
    reconstruction_tol : float, default=0.1
        Tolerance of the ``"reconstruction"`` rule for m.
    f0 : float, default=4.0
        Damping of the ISDE.
    n_jobs : int, default=None
        Realisations in parallel.
    random_state : int or None, default=None
        Seeds the sampler's generator.
    verbose : int, default=0
        Progress of realisations.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted. Fit it on spectra, then draw with :func:`sample`.

    Notes
    -----
    The defaults come from the ablation of ``benchmarks/validate.py`` on the
    built-in USGS library (group splits by physical sample), recorded in
    ``docs/validation.md``.

    Examples
    --------
    >>> from skaidm import make_aidm_pipeline
    >>> pipe = make_aidm_pipeline(variant="B", alpha=0.7, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['scale', 'plom']
    >>> pipe.get_params()["plom__kernel_attention__alpha"]
    0.7
    >>> [name for name, _ in make_aidm_pipeline(bounds=(0.0, 1.5)).steps]
    ['bounds', 'scale', 'plom']
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r} must be one of {VARIANTS}.")
    if bounds is not None:
        bounds = _check_pipeline_bounds(bounds)
    plom = PLoMSampler(
        constraints=constraints,
        whitening=WhiteningPCA(n_components=whitening),
        diffusion_map=AnisotropicDiffusionMap(
            epsilon=epsilon,
            n_components=n_components,
            reconstruction_tol=reconstruction_tol,
        ),
        f0=f0,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=verbose,
    )
    steps = []
    if bounds is not None:
        steps.append(("bounds", BoundedTransform(low=bounds[0], high=bounds[1])))
    steps.append(("scale", RobustScaler()))
    if variant == "none" and weights is not None:
        warnings.warn(
            "variant='none' is plain PLoM and ignores the band weights; use "
            "variant='B' (or 'A') to put them into the model.",
            UserWarning,
            stacklevel=2,
        )
    if variant == "A":
        if not _can_truncate(whitening):
            warnings.warn(
                f"variant='A' with whitening={whitening!r} keeps every principal "
                "component: whitening is affine-invariant, so the attention "
                "preconditioning cancels exactly and this is plain PLoM. Use a "
                "variance fraction such as 0.9999, or variant='B'.",
                AttentionCancelledWarning,
                stacklevel=2,
            )
        steps.append(("attention", AttentionPreconditioner(weights, alpha=alpha)))
    elif variant == "B":
        plom.set_params(kernel_attention=AttentionPreconditioner(weights, alpha=alpha))
    steps.append(("plom", plom))
    return Pipeline(steps)


def check_pipeline(pipeline, *, stacklevel=2):
    """Warn when a fitted pipeline's attention step is cancelled by its whitening.

    Looks for an :class:`AttentionPreconditioner` step followed by a
    :class:`PLoMSampler` and applies
    :func:`~skaidm.attention.check_attention_whitening` to the pair.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted.
    stacklevel : int, default=2
        Frame the warning points at (2: the caller of this function).

    Returns
    -------
    cancelled : bool
    """
    attention = None
    for _, step in pipeline.steps:
        if isinstance(step, AttentionPreconditioner):
            attention = step
        elif isinstance(step, PLoMSampler) and attention is not None:
            return check_attention_whitening(
                attention, step.whitening_, stacklevel=stacklevel + 1
            )
    return False


def sample(pipeline, n_samples, random_state=None):
    """Draw from a fitted pipeline and decode through every earlier step.

    The last step must be a sampler (a :class:`PLoMSampler`, or any estimator
    with ``sample(n_samples, random_state=...)``); its rows are passed through
    the ``inverse_transform`` of every earlier step, in reverse, so they come out
    in the units of the pipeline's input (Option A through the inverse of the
    attention scaling, then every variant through the inverse robust scaling).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline or sampler
        Fitted.
    n_samples : int
        Number of rows.
    random_state : int, Generator or None, default=None
        See :meth:`PLoMSampler.sample`.

    Returns
    -------
    X_new : ndarray of shape (n_samples, n_features)
        Generated rows in the original units.
    """
    if not isinstance(pipeline, Pipeline):
        check_is_fitted(pipeline)
        return pipeline.sample(n_samples, random_state=random_state)
    sampler = pipeline.steps[-1][1]
    if not hasattr(sampler, "sample"):
        raise TypeError(
            f"the last step of the pipeline, {type(sampler).__name__}, has no "
            "sample method; end the pipeline with a PLoMSampler."
        )
    check_is_fitted(sampler)
    check_pipeline(pipeline, stacklevel=3)
    X = sampler.sample(n_samples, random_state=random_state)
    for _, step in reversed(pipeline.steps[:-1]):
        if step is None or step == "passthrough":
            continue
        X = step.inverse_transform(X)
    return X
