"""ClassConditionalSampler: one PLoM generator per class, for imbalanced labels."""

import math
import numbers
import sys
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._random import call_seed, fitted_generator
from ._validation import is_int
from .pipeline import make_aidm_pipeline
from .pipeline import sample as sample_generator

__all__ = ["ClassConditionalSampler"]

# The sampling_strategy strings of imbalanced-learn, over-sampling meanings.
SAMPLING_STRATEGIES = ("auto", "minority", "not minority", "not majority", "all")

# The fewest rows PLoMSampler.fit accepts (its validate_data uses ensure_min_samples=3).
MIN_CLASS_SIZE = 3

# Skipped classes named in the warning; the rest are counted (a spectral library can
# have a hundred single-spectrum minerals).
MAX_NAMED = 20


def _largest_remainder(n_samples, weights):
    """Split ``n_samples`` in proportion to integer ``weights``, summing exactly.

    Each share is :math:`\\lfloor n w_c / W \\rfloor`; the rows left over go, one
    each, to the shares with the largest remainders :math:`n w_c \\bmod W`, ties
    to the earlier entry. Integer arithmetic throughout, so no round-off.

    Parameters
    ----------
    n_samples : int
        Total to split.
    weights : ndarray of shape (n_classes,)
        Non-negative integers with a positive sum.

    Returns
    -------
    counts : ndarray of shape (n_classes,)
        Non-negative integers summing to ``n_samples``.
    """
    weights = [int(w) for w in weights]
    total = sum(weights)
    counts = [n_samples * w // total for w in weights]
    remainders = [n_samples * w % total for w in weights]
    left = n_samples - sum(counts)
    # sorted() is stable: equal remainders keep class order.
    for k in sorted(range(len(weights)), key=lambda k: -remainders[k])[:left]:
        counts[k] += 1
    return np.asarray(counts, dtype=np.int64)


def _over_sampling_targets(sampling_strategy, labels, counts):
    """Synthetic rows per class for an imbalanced-learn ``sampling_strategy``.

    Re-implements the over-sampling meanings of
    ``imblearn.utils.check_sampling_strategy(sampling_strategy, y,
    "over-sampling")`` without importing imbalanced-learn, except for a float,
    which is extended to any number of classes (see
    :class:`ClassConditionalSampler`).

    Parameters
    ----------
    sampling_strategy : str, float, dict or callable
        See :class:`ClassConditionalSampler`; a callable has already been called.
    labels : list
        The classes, sorted (as :func:`numpy.unique` returns them).
    counts : list of int
        Rows per class, aligned with ``labels``.

    Returns
    -------
    n_new : dict
        Label -> number of synthetic rows, for the targeted classes only, in
        class order.
    """
    stats = dict(zip(labels, counts, strict=True))
    n_max = max(counts)
    # max/min over a dict return the first key among ties, as imbalanced-learn.
    majority = max(stats, key=stats.get)
    minority = min(stats, key=stats.get)
    if isinstance(sampling_strategy, str):
        keep = {
            "auto": lambda c: c != majority,
            "not majority": lambda c: c != majority,
            "minority": lambda c: c == minority,
            "not minority": lambda c: c != minority,
            "all": lambda c: True,
        }[sampling_strategy]
        return {c: n_max - n for c, n in stats.items() if keep(c)}
    if isinstance(sampling_strategy, dict):
        unknown = [c for c in sampling_strategy if c not in stats]
        if unknown:
            raise ValueError(
                f"sampling_strategy names classes {unknown} that are not in y; "
                f"the classes are {labels}."
            )
        n_new = {}
        for c in labels:
            if c not in sampling_strategy:
                continue
            target = sampling_strategy[c]
            if not is_int(target) or target < 0:
                raise ValueError(
                    f"sampling_strategy[{c!r}]={target!r} must be a non-negative "
                    "int (the total number of rows of the class after resampling)."
                )
            if target < stats[c]:
                raise ValueError(
                    f"sampling_strategy[{c!r}]={target} is below the {stats[c]} "
                    "rows the class already has; an over-sampler only adds rows."
                )
            n_new[c] = int(target) - stats[c]
        return n_new
    # A float: the ratio n_c / n_majority after resampling. The small offset keeps
    # a product that is an integer up to round-off (0.1 * 30) from rounding up.
    target = math.ceil(sampling_strategy * n_max - 1e-9)
    return {c: target - n for c, n in stats.items() if n < target}


def _like(values, reference):
    """``values`` as a pandas DataFrame or Series when ``reference`` is one.

    Columns (or the name) are kept; the index is a fresh ``RangeIndex``, since
    synthetic rows have no index of their own. Anything else is returned as is.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_columns) or (n_rows,)
    reference : object
        The input ``X`` or ``y``.

    Returns
    -------
    values : ndarray, DataFrame or Series
    """
    pd = sys.modules.get("pandas")  # a pandas object implies pandas is imported
    if pd is not None and isinstance(reference, pd.DataFrame):
        return pd.DataFrame(values, columns=reference.columns)
    if pd is not None and isinstance(reference, pd.Series):
        return pd.Series(values, name=reference.name)
    return values


class ClassConditionalSampler(BaseEstimator):
    r"""Over-sample rare classes with one PLoM generator per class.

    Each class with at least ``min_class_size`` rows gets its own clone of
    ``generator`` (by default :func:`~skaidm.make_aidm_pipeline`: robust scaling,
    whitening, diffusion map and :class:`~skaidm.PLoMSampler`), fitted on that
    class's rows only, so every generated row carries the label of the class whose
    generator drew it. :meth:`sample` draws labelled rows;
    :meth:`fit_resample` returns the training rows plus synthetic ones chosen by
    ``sampling_strategy`` (imbalanced-learn's meanings), so the sampler drops into
    an ``imblearn.pipeline.Pipeline`` before a classifier. Synthetic rows are
    added only during fit; at predict time the pipeline skips the sampler.

    This is a *sampler*, not a transformer: it has no ``transform`` (an
    imbalanced-learn pipeline refuses a step with both ``transform`` and
    ``fit_resample``), and imbalanced-learn itself is not required.

    Parameters
    ----------
    generator : Pipeline or sampler, default=None
        Template of the per-class generator, cloned for every class: a fitted
        clone must work with :func:`skaidm.sample`, i.e. be a
        :class:`~sklearn.pipeline.Pipeline` ending with a sampler (as
        :func:`~skaidm.make_aidm_pipeline` builds) or an estimator with
        ``sample(n_samples, random_state=...)``. ``None`` means
        ``make_aidm_pipeline()`` with its defaults. Each class gets its own
        whitening: a whitening shared across classes would not make each class's
        covariance the identity, which PLoM's Silverman bandwidth assumes.
    sampling_strategy : float, str, dict or callable, default="auto"
        How many synthetic rows :meth:`fit_resample` adds, with imbalanced-learn's
        over-sampling meanings (all counts are over the training ``y``,
        including classes skipped for being too small):

        - ``"not majority"``: every class but the majority is brought to the
          majority's count; ``"auto"`` is the same;
        - ``"minority"``: only the minority class;
        - ``"not minority"``: every class but the minority;
        - ``"all"``: every class (the majority gets no rows);
        - a dict ``{label: n_total}``: the total number of rows of each listed
          class after resampling (at least its current count);
        - a callable ``y -> dict``, read as the dict above;
        - a float :math:`\rho \in (0, 1]`: the ratio of a class's count to the
          majority's after resampling. imbalanced-learn allows it for binary
          targets only; here every class with fewer than
          :math:`t = \lceil \rho\, n_{\max} \rceil` rows is brought to :math:`t`
          rows, whatever the number of classes (imbalanced-learn rounds
          :math:`\rho\, n_{\max}` down and raises when a class already has
          more; the two agree when :math:`\rho\, n_{\max}` is an integer).

        Among tied classes the majority (minority) is the first in sorted order,
        as in imbalanced-learn. Skipped classes never get synthetic rows.
    min_class_size : int, default=3
        Classes with fewer rows get no generator (see Notes). At least 3, the
        fewest rows :class:`~skaidm.PLoMSampler` fits on.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds, at fit, the generator from which :meth:`sample` (and so
        :meth:`fit_resample`) draws when called without its own
        ``random_state``. It does not change how the per-class generators are
        fitted.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        All class labels seen in fit, sorted, skipped ones included.
    class_counts_ : ndarray of shape (n_classes,)
        Training rows per class, aligned with ``classes_``.
    generators_ : dict
        Label -> fitted clone of ``generator``, for the classes with at least
        ``min_class_size`` rows.
    skipped_classes_ : ndarray of shape (n_skipped,)
        Labels with fewer than ``min_class_size`` rows (no generator).
    sampling_strategy_ : dict
        Label -> number of synthetic rows :meth:`fit_resample` adds, for the
        targeted classes that have a generator.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when they are all strings.

    See Also
    --------
    skaidm.make_aidm_pipeline : The default per-class generator.
    skaidm.sample : Draw from one fitted generator.
    PLoMSampler : The sampler at the end of each generator.

    Notes
    -----
    **Small classes.** A class with fewer than ``min_class_size`` rows is skipped
    with a :class:`UserWarning` naming it: it gets no generator, :meth:`sample`
    refuses its label, and :meth:`fit_resample` keeps its original rows and adds
    none. For a class of :math:`n_c` rows the whitening has rank
    :math:`r \le n_c - 1`, and the default pipeline's rules apply per class: the
    variance-fraction whitening keeps :math:`r` of those directions and the
    ``"auto"`` diffusion-map rules choose :math:`\varepsilon` and :math:`m` from
    the class alone.

    Without a bounds step, every generated spectrum lies in the affine span of
    its class's rows: it is :math:`\sum_j a_j x_j` with :math:`\sum_j a_j = 1`,
    the coefficients possibly negative, so it can leave the convex hull of the
    rows (and, for example, dip below zero reflectance). With tiny classes (3-5
    rows) that span has only 2-4 dimensions: the generated spectra are
    near-affine combinations of the class's few rows, varying only along the
    differences between them, and bring no spectral feature that none of the
    rows has. On such classes the reconstruction rule typically keeps all
    :math:`m = n_c` diffusion vectors, so the projection is void and PLoM samples
    the class's Gaussian kernel density estimate in that span. The isotropic
    ``"gap"`` rule (``variant="none"`` or ``"A"``) needs :math:`n_c \ge r + 2`,
    which fails whenever the whitening keeps all :math:`n_c - 1` directions
    (typical of small classes); it then falls back to the knn and reconstruction
    rules with a warning for each such class. To keep reflectance in a physical
    range, use a bounded generator such as
    ``make_aidm_pipeline(bounds=(0.0, 1.5))``; the affine-span statement then
    holds in its transformed space.

    **Splitting an integer.** ``sample(n_samples)`` with an int splits the rows
    over the classes that have a generator in proportion to their training counts
    :math:`n_c`, by largest remainder: class :math:`c` gets
    :math:`\lfloor n\,n_c / N \rfloor` rows (:math:`N = \sum_c n_c` over those
    classes) and the rows left over go, one each, to the classes with the largest
    remainders :math:`n\,n_c \bmod N` (ties to the earlier class), so the counts
    sum to :math:`n` exactly.

    **Randomness.** Each call derives one seed per class in ``classes_`` with
    :meth:`numpy.random.SeedSequence.spawn` and passes it to
    :func:`skaidm.sample` for that class: an explicit ``random_state`` makes the
    rows exactly reproducible, and a class's rows do not depend on which other
    classes are drawn in the same call. Without one, the seed comes from a
    generator seeded at fit and advanced by every call, as in
    :meth:`PLoMSampler.sample`: successive calls differ, the sequence is
    reproducible and survives joblib persistence.

    Examples
    --------
    >>> import numpy as np
    >>> from skaidm import ClassConditionalSampler, make_aidm_pipeline
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (30, 4)), rng.normal(5, 1, (8, 4))])
    >>> y = np.array([0] * 30 + [1] * 8)
    >>> ccs = ClassConditionalSampler(
    ...     make_aidm_pipeline(variant="none", whitening=0.99), random_state=0
    ... ).fit(X, y)
    >>> X_new, y_new = ccs.sample({1: 5})
    >>> X_new.shape, y_new.tolist()
    ((5, 4), [1, 1, 1, 1, 1])
    >>> X_res, y_res = ccs.fit_resample(X, y)
    >>> np.bincount(y_res).tolist()
    [30, 30]
    """

    # imbalanced-learn's own marker for samplers (imblearn.base.is_sampler).
    _estimator_type = "sampler"

    def __init__(
        self,
        generator=None,
        *,
        sampling_strategy="auto",
        min_class_size=MIN_CLASS_SIZE,
        random_state=None,
    ):
        self.generator = generator
        self.sampling_strategy = sampling_strategy
        self.min_class_size = min_class_size
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "sampler"  # the name imbalanced-learn gives it
        tags.target_tags.required = True
        return tags

    def _check_params(self):
        if not is_int(self.min_class_size) or self.min_class_size < MIN_CLASS_SIZE:
            raise ValueError(
                f"min_class_size={self.min_class_size!r} must be an int >= "
                f"{MIN_CLASS_SIZE}: PLoM needs at least {MIN_CLASS_SIZE} rows."
            )
        strategy = self.sampling_strategy
        if isinstance(strategy, str):
            if strategy not in SAMPLING_STRATEGIES:
                raise ValueError(
                    f"sampling_strategy={strategy!r} must be one of "
                    f"{SAMPLING_STRATEGIES}, a float, a dict or a callable "
                    "('majority' has no meaning for an over-sampler)."
                )
        elif isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
            if not 0 < strategy <= 1:
                raise ValueError(
                    f"sampling_strategy={strategy!r} must be in (0, 1] when a "
                    "float (the ratio of a class's count to the majority's)."
                )
        elif not (isinstance(strategy, dict) or callable(strategy)):
            raise ValueError(
                f"sampling_strategy={strategy!r} must be a str, a float, a dict "
                "or a callable."
            )
        generator = self.generator
        if generator is not None:
            last = generator.steps[-1][1] if isinstance(generator, Pipeline) else None
            if not hasattr(generator, "fit") or not hasattr(
                generator if last is None else last, "sample"
            ):
                raise TypeError(
                    f"generator must be a Pipeline ending with a sampler (see "
                    f"make_aidm_pipeline) or an estimator with fit and sample; got "
                    f"{type(generator).__name__}."
                )

    def _fit(self, X, y):
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_codes, self.class_counts_ = np.unique(
            y, return_inverse=True, return_counts=True
        )
        labels = self.classes_.tolist()
        counts = self.class_counts_.tolist()
        large = self.class_counts_ >= self.min_class_size
        if not large.any():
            raise ValueError(
                f"No class has min_class_size={self.min_class_size} rows or more "
                f"(largest: {max(counts)}); there is nothing to fit."
            )
        self.skipped_classes_ = self.classes_[~large]
        fitted = set(self.classes_[large].tolist())
        skipped = [
            (c, n) for c, n in zip(labels, counts, strict=True) if c not in fitted
        ]
        if skipped:
            named = ", ".join(f"{c!r} ({n})" for c, n in skipped[:MAX_NAMED])
            if len(skipped) > MAX_NAMED:
                named += f", ... ({len(skipped) - MAX_NAMED} more in skipped_classes_)"
            warnings.warn(
                f"{len(skipped)} class(es) with fewer than min_class_size="
                f"{self.min_class_size} rows are skipped: {named}. They get no "
                "generator: sample() refuses their labels and fit_resample() "
                "keeps their rows but adds none.",
                UserWarning,
                stacklevel=3,
            )

        strategy = self.sampling_strategy
        if callable(strategy) and not isinstance(strategy, (str, dict)):
            strategy = strategy(y)
            if not isinstance(strategy, dict):
                raise ValueError(
                    f"sampling_strategy(y) returned {type(strategy).__name__}; "
                    "it must return a dict {label: total rows}."
                )
        n_new = _over_sampling_targets(strategy, labels, counts)
        self.sampling_strategy_ = {c: n for c, n in n_new.items() if c in fitted}

        template = make_aidm_pipeline() if self.generator is None else self.generator
        self.generators_ = {}
        for k, label in enumerate(labels):
            if label not in fitted:
                continue
            X_c = X[y_codes == k]
            try:
                self.generators_[label] = clone(template).fit(X_c)
            except (ValueError, np.linalg.LinAlgError) as exc:
                # Data-dependent failures (e.g. a class of one repeated spectrum
                # has nothing to whiten): say which class.
                raise ValueError(
                    f"Fitting the generator of class {label!r} ({len(X_c)} rows) "
                    f"failed: {exc}"
                ) from exc
        self._sample_rng = fitted_generator(self.random_state)
        return X, y

    def fit(self, X, y):
        """Fit one clone of ``generator`` on the rows of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (e.g. spectra).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : ClassConditionalSampler
            Fitted estimator.
        """
        self._fit(X, y)
        return self

    def _requested_codes(self, n_samples, y):
        """Class index (into ``classes_``) of every row to generate."""
        labels = self.classes_.tolist()
        index = {c: k for k, c in enumerate(labels)}
        if y is not None:
            y = np.asarray(y)
            if y.ndim != 1:
                raise ValueError(f"y must be 1-D, got shape {y.shape}.")
            if n_samples is not None and n_samples != len(y):
                raise ValueError(
                    f"n_samples={n_samples!r} differs from len(y)={len(y)}; pass "
                    "n_samples or y (one row per entry), not both."
                )
            requested = y.tolist()
            self._check_labels(dict.fromkeys(requested), "y")
            return np.asarray([index[c] for c in requested], dtype=np.intp)
        if isinstance(n_samples, dict):
            self._check_labels(n_samples, "n_samples")
            counts = np.zeros(len(labels), dtype=np.int64)
            for c, n in n_samples.items():
                if not is_int(n) or n < 0:
                    raise ValueError(
                        f"n_samples[{c!r}]={n!r} must be a non-negative int."
                    )
                counts[index[c]] = n
        elif is_int(n_samples) and n_samples >= 1:
            fitted = np.asarray([c in self.generators_ for c in labels])
            counts = np.zeros(len(labels), dtype=np.int64)
            counts[fitted] = _largest_remainder(
                int(n_samples), self.class_counts_[fitted]
            )
        else:
            raise ValueError(
                f"n_samples={n_samples!r} must be a positive int, a dict "
                "{label: count}, or None with y given."
            )
        return np.repeat(np.arange(len(labels)), counts)

    def _check_labels(self, requested, name):
        unknown = [c for c in requested if c not in self.generators_]
        if unknown:
            skipped = set(self.skipped_classes_.tolist())
            kinds = [
                "skipped at fit: fewer than min_class_size rows"
                if c in skipped
                else "not seen at fit"
                for c in unknown
            ]
            details = ", ".join(
                f"{c!r} ({k})" for c, k in zip(unknown, kinds, strict=True)
            )
            raise ValueError(
                f"{name} asks for classes without a generator: {details}. Classes "
                f"with a generator: {list(self.generators_)}."
            )

    def sample(self, n_samples=None, y=None, random_state=None):
        """Generate labelled rows from the per-class generators.

        Parameters
        ----------
        n_samples : int, dict or None, default=None
            An int: that many rows, split over the classes in proportion to their
            training counts (largest remainder, see Notes of the class). A dict
            ``{label: count}``: that many rows of each listed class. ``None``:
            one row per entry of ``y``.
        y : array-like of shape (n_rows,), default=None
            The label of every row to generate: row ``i`` is drawn from the
            generator of class ``y[i]``. Every label must have a generator.
        random_state : int, Generator, RandomState, SeedSequence or None
            With a value, the rows are exactly reproducible. ``None`` draws from a
            generator seeded at fit from the estimator's ``random_state`` and
            advanced by every call.

        Returns
        -------
        X_new : ndarray of shape (n_rows, n_features_in_)
            Generated rows, in the input units of the generators.
        y_new : ndarray of shape (n_rows,)
            Their labels (values of ``classes_``): grouped by class in the order
            of ``classes_`` for an int or a dict, equal to ``y`` otherwise.
        """
        check_is_fitted(self)
        if n_samples is None and y is None:
            raise ValueError("sample needs n_samples (an int or a dict) or y.")
        codes = self._requested_codes(n_samples, y)
        seed = call_seed(self._sample_rng, random_state)
        # One child per class in classes_, used or not: a class's rows do not
        # depend on which other classes this call draws.
        children = seed.spawn(len(self.classes_))
        X_new = np.empty((len(codes), self.n_features_in_), dtype=np.float64)
        for k, label in enumerate(self.classes_.tolist()):
            rows = np.flatnonzero(codes == k)
            if rows.size:
                X_new[rows] = sample_generator(
                    self.generators_[label], rows.size, random_state=children[k]
                )
        return X_new, self.classes_[codes]

    def fit_resample(self, X, y):
        """Fit, then return the training rows followed by synthetic rows.

        The number of synthetic rows per class is ``sampling_strategy_``
        (from ``sampling_strategy``); they are drawn as :meth:`sample` would
        draw them right after fit (so ``random_state`` makes them reproducible).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        X_resampled : ndarray or DataFrame of shape (n_samples + n_new, n_features)
            ``X`` (as float64, values unchanged) followed by the synthetic rows,
            grouped by class in the order of ``classes_``. A pandas DataFrame
            when ``X`` is one (same columns, a fresh ``RangeIndex``), so the next
            step of a pipeline sees the feature names it will see at predict.
        y_resampled : ndarray or Series of shape (n_samples + n_new,)
            ``y`` followed by the labels of the synthetic rows; a pandas Series
            (same name, fresh index) when ``y`` is one.
        """
        X_in, y_in = X, y
        X, y = self._fit(X, y)
        X_res, y_res = X.copy(), y.copy()
        if sum(self.sampling_strategy_.values()):
            X_new, y_new = self.sample(self.sampling_strategy_)
            X_res, y_res = np.vstack([X, X_new]), np.concatenate([y, y_new])
        return _like(X_res, X_in), _like(y_res, y_in)
