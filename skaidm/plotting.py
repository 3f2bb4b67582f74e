"""Diagnostic plots for spectra, band weights, diffusion maps and parameter sweeps.

Every function draws on a Matplotlib :class:`~matplotlib.axes.Axes` (a new
figure when ``ax`` is None) and returns it; none calls ``plt.show()``, so the
figures can be saved, composed into subplots or shown by the caller.

Matplotlib is an optional dependency, imported only when a function is called::

    pip install 'skaidm[plotting]'
"""

import numbers

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .attention import AttentionPreconditioner
from .diffusion import AnisotropicDiffusionMap
from .plom import PLoMSampler

__all__ = [
    "plot_band_weights",
    "plot_diffusion_coordinates",
    "plot_eigenvalues",
    "plot_report",
    "plot_spectra",
    "plot_sweep",
]

_MATPLOTLIB_MESSAGE = "skaidm.plotting needs matplotlib: pip install 'skaidm[plotting]'"
_BAD_BAND_GID = "skaidm-bad-bands"
_REAL_COLOR = "tab:blue"
_SYNTHETIC_COLOR = "tab:orange"
_MAX_LEGEND_CLASSES = 10


def _pyplot():
    """Import matplotlib.pyplot lazily, with an install hint when missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(_MATPLOTLIB_MESSAGE) from exc
    return plt


def _get_ax(ax, figsize):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _check_wavelengths(wavelengths):
    wavelengths = np.asarray(wavelengths, dtype=np.float64)
    if wavelengths.ndim != 1 or wavelengths.size == 0:
        raise ValueError(
            "wavelengths must be a non-empty 1-D array of band centres in nm, "
            f"got shape {wavelengths.shape}."
        )
    if not np.all(np.isfinite(wavelengths)):
        raise ValueError("wavelengths must be finite.")
    return wavelengths


def _check_good_bands(good_bands, n_bands):
    if good_bands is None:
        return None
    good_bands = np.asarray(good_bands)
    if good_bands.dtype != bool:
        raise ValueError(
            f"good_bands must be a boolean mask (True = usable band), got dtype "
            f"{good_bands.dtype}."
        )
    if good_bands.shape != (n_bands,):
        raise ValueError(
            f"good_bands has shape {good_bands.shape}, but there are {n_bands} "
            "wavelengths; they must match."
        )
    return good_bands


def _bad_band_windows(wavelengths, good_bands):
    """(start_nm, stop_nm) of every contiguous run of ``~good_bands``.

    A window reaches halfway to the neighbouring good bands (half a band
    spacing beyond the first or last band at the ends of the grid).
    """
    bad = ~good_bands
    if not bad.any():
        return []
    edges = np.diff(np.concatenate(([0], bad.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1  # inclusive
    if wavelengths.size > 1:
        mids = (wavelengths[:-1] + wavelengths[1:]) / 2.0
        lower = np.concatenate(
            ([wavelengths[0] - (mids[0] - wavelengths[0])], mids)
        )  # lower edge of band i
        upper = np.concatenate(
            (mids, [wavelengths[-1] + (wavelengths[-1] - mids[-1])])
        )  # upper edge of band i
    else:
        lower = upper = wavelengths
    return [
        (float(lower[i]), float(upper[j])) for i, j in zip(starts, stops, strict=True)
    ]


def _shade_bad_bands(ax, wavelengths, good_bands):
    """Grey the bad-band windows; the first span carries the legend label."""
    if good_bands is None:
        return
    lo, hi = float(wavelengths.min()), float(wavelengths.max())
    for k, (start, stop) in enumerate(_bad_band_windows(wavelengths, good_bands)):
        ax.axvspan(
            start,
            stop,
            color="0.85",
            alpha=0.7,
            zorder=0,
            lw=0,
            label="bad bands" if k == 0 else "_nolegend_",
            gid=_BAD_BAND_GID,
        )
    ax.set_xlim(lo, hi)  # the spans must not widen the axis


def _check_spectra(X, name, n_bands):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_spectra, n_bands), got shape "
            f"{X.shape}."
        )
    if X.shape[1] != n_bands:
        raise ValueError(
            f"{name} has {X.shape[1]} bands (columns), but there are {n_bands} "
            "wavelengths; they must match."
        )
    return X


def _diffusion_map(estimator):
    """The fitted AnisotropicDiffusionMap of a map, a PLoMSampler or a Pipeline."""
    if isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    if isinstance(estimator, PLoMSampler):
        check_is_fitted(estimator)
        estimator = estimator.diffusion_map_
    if isinstance(estimator, AnisotropicDiffusionMap):
        check_is_fitted(estimator)
    if not hasattr(estimator, "eigenvalues_"):
        raise TypeError(
            "expected a fitted AnisotropicDiffusionMap (or a fitted PLoMSampler "
            f"or pipeline ending in one), got {type(estimator).__name__}."
        )
    return estimator


def _format_number(value):
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{float(value):.4g}"
    return str(value)


def plot_band_weights(
    weights, wavelengths, good_bands=None, ax=None, label="band weights"
):
    """Plot band weights against wavelength, with bad-band windows shaded.

    Parameters
    ----------
    weights : array-like of shape (n_bands,)
        One weight per band, e.g. from :func:`~skaidm.attention.read_weights`
        or ``AttentionPreconditioner.weights_``.
    wavelengths : array-like of shape (n_bands,)
        Band centres in nm.
    good_bands : array-like of bool, shape (n_bands,), default=None
        True for usable bands (e.g. ``load_emit_bands().good_bands``); each
        contiguous run of bad bands is shaded grey. None shades nothing.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    label : str, default="band weights"
        Legend label of the weight curve.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.

    Raises
    ------
    ValueError
        If ``weights``, ``wavelengths`` and ``good_bands`` do not have one entry
        per band each.

    Examples
    --------
    >>> import numpy as np
    >>> from skaidm.datasets import load_emit_bands
    >>> from skaidm.plotting import plot_band_weights
    >>> bands = load_emit_bands()
    >>> w = np.ones(len(bands.wavelengths))
    >>> ax = plot_band_weights(w, bands.wavelengths, bands.good_bands)  # doctest: +SKIP
    """
    wavelengths = _check_wavelengths(wavelengths)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1:
        raise ValueError(f"weights must be 1-D, got shape {weights.shape}.")
    if weights.size != wavelengths.size:
        raise ValueError(
            f"weights has {weights.size} entries but wavelengths has "
            f"{wavelengths.size}; give one weight per band."
        )
    good_bands = _check_good_bands(good_bands, wavelengths.size)
    ax = _get_ax(ax, figsize=(8, 3.5))
    ax.plot(wavelengths, weights, lw=1.5, label=label)
    _shade_bad_bands(ax, wavelengths, good_bands)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("weight (dimensionless)")
    ax.set_title("Band weights")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return ax


def plot_eigenvalues(diffusion_map, ax=None):
    r"""Plot the diffusion-map spectrum and the chosen dimension :math:`m`.

    The kept eigenvalues :math:`\lambda_1 \geq \dots \geq \lambda_m` are drawn
    on a log scale against their 1-based index, the first discarded eigenvalue
    :math:`\lambda_{m+1} = \text{gap\_ratio\_} \cdot \lambda_m` as a hollow
    marker when it is known, and :math:`m` as a vertical line. The title gives
    the bandwidth :math:`\varepsilon` and the gap ratio
    :math:`\lambda_{m+1}/\lambda_m`.

    Parameters
    ----------
    diffusion_map : AnisotropicDiffusionMap, PLoMSampler or Pipeline
        Fitted. A :class:`~skaidm.plom.PLoMSampler` (or a pipeline ending in
        one, e.g. from :func:`~skaidm.pipeline.make_aidm_pipeline`) stands for
        its ``diffusion_map_``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.
    """
    dmap = _diffusion_map(diffusion_map)
    lam = np.asarray(dmap.eigenvalues_, dtype=np.float64)
    m = int(dmap.n_components_)
    gap = float(dmap.gap_ratio_)
    ax = _get_ax(ax, figsize=(6, 4))
    index = np.arange(1, lam.size + 1)
    ax.plot(index, lam, "o-", ms=3, lw=1, label=r"kept $\lambda_k$")
    if np.isfinite(gap) and gap > 0 and m >= 1:
        ax.plot(
            [m + 1],
            [gap * lam[m - 1]],
            "o",
            mfc="none",
            mec="tab:red",
            ms=6,
            label=r"first discarded $\lambda_{m+1}$",
        )
    ax.axvline(m, color="k", ls="--", lw=1, label=f"m = {m}")
    ax.set_yscale("log")
    ax.set_xlabel("index k (1-based)")
    ax.set_ylabel(r"eigenvalue $\lambda_k$")
    gap_text = f"{gap:.3g}" if np.isfinite(gap) else "n/a"
    ax.set_title(
        rf"Diffusion-map spectrum: $\varepsilon$ = {dmap.epsilon_:.4g}, "
        rf"$\lambda_{{m+1}}/\lambda_m$ = {gap_text}"
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best")
    return ax


def plot_spectra(
    real,
    synthetic,
    wavelengths,
    good_bands=None,
    n_examples=3,
    random_state=0,
    ax=None,
):
    """Compare real and synthetic spectra band by band.

    For each set, the per-band median is drawn as a line and the 5-95 %
    percentile envelope as a semi-transparent band; ``n_examples`` randomly
    chosen synthetic spectra are drawn as thin lines.

    Parameters
    ----------
    real : array-like of shape (n_real, n_bands)
        Real (training or test) spectra, reflectance.
    synthetic : array-like of shape (n_synthetic, n_bands)
        Generated spectra, e.g. from :func:`~skaidm.pipeline.sample`.
    wavelengths : array-like of shape (n_bands,)
        Band centres in nm.
    good_bands : array-like of bool, shape (n_bands,), default=None
        True for usable bands; each contiguous run of bad bands is shaded grey.
    n_examples : int, default=3
        Number of individual synthetic spectra to draw (at most
        ``n_synthetic``); 0 draws none.
    random_state : int, Generator or None, default=0
        Seed of the choice of example spectra.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.

    Raises
    ------
    ValueError
        If the spectra do not have one column per wavelength.
    """
    wavelengths = _check_wavelengths(wavelengths)
    real = _check_spectra(real, "real", wavelengths.size)
    synthetic = _check_spectra(synthetic, "synthetic", wavelengths.size)
    good_bands = _check_good_bands(good_bands, wavelengths.size)
    if not isinstance(n_examples, numbers.Integral) or n_examples < 0:
        raise ValueError(f"n_examples must be a non-negative int, got {n_examples!r}.")
    ax = _get_ax(ax, figsize=(10, 4))
    for X, name, color in (
        (real, "real", _REAL_COLOR),
        (synthetic, "synthetic", _SYNTHETIC_COLOR),
    ):
        low, median, high = np.nanpercentile(X, [5, 50, 95], axis=0)
        ax.fill_between(
            wavelengths,
            low,
            high,
            color=color,
            alpha=0.25,
            lw=0,
            label=f"{name} 5-95 % (n={X.shape[0]})",
        )
        ax.plot(wavelengths, median, color=color, lw=2, label=f"{name} median")
    n_examples = min(int(n_examples), synthetic.shape[0])
    if n_examples:
        rng = np.random.default_rng(random_state)
        rows = rng.choice(synthetic.shape[0], size=n_examples, replace=False)
        for k, row in enumerate(rows):
            ax.plot(
                wavelengths,
                synthetic[row],
                color=_SYNTHETIC_COLOR,
                lw=0.6,
                alpha=0.9,
                ls="-",
                label="synthetic examples" if k == 0 else "_nolegend_",
            )
    _shade_bad_bands(ax, wavelengths, good_bands)
    ax.set_xlim(float(wavelengths.min()), float(wavelengths.max()))
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("reflectance")
    ax.set_title("Real and synthetic spectra")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return ax


def _placeholder(ax, text):
    """Say in the middle of an empty panel why it has nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def _zoom_to_bulk(ax, x, y, quantile=0.01, ratio=5.0):
    """Zoom onto the bulk of the points when a few outliers would flatten it.

    If the central ``1 - 2 quantile`` of either coordinate spans less than
    ``1 / ratio`` of its full range, the view is set to that central range (with
    a 25% margin) and the number of rows left outside is written on the axes.
    Returns that number (0 when the view is left as it is).
    """
    limits, zoom = [], False
    for values in (x, y):
        lo, hi = np.quantile(values, [quantile, 1.0 - quantile])
        full = float(np.ptp(values))
        pad = 0.25 * (hi - lo) if hi > lo else 0.05 * full
        limits.append((lo - pad, hi + pad))
        zoom |= full > 0 and (hi - lo) < full / ratio
    if not zoom:
        return 0
    (x0, x1), (y0, y1) = limits
    outside = int(np.count_nonzero((x < x0) | (x > x1) | (y < y0) | (y > y1)))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.text(
        0.98,
        0.02,
        f"{outside} outlying row(s) outside the view",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize="small",
    )
    return outside


def plot_diffusion_coordinates(diffusion_map, labels=None, ax=None):
    """Scatter the 2nd against the 3rd diffusion coordinate of the training rows.

    The first coordinate of a diffusion map is constant (eigenvalue 1); the
    2nd and 3rd (``embedding_[:, 1]`` and ``embedding_[:, 2]``) show the
    leading structure of the data. With a small bandwidth these coordinates can
    single out a few isolated rows; when the central 98% of the rows spans less
    than a fifth of a coordinate's range, the view zooms onto them and says how
    many rows lie outside.

    Parameters
    ----------
    diffusion_map : AnisotropicDiffusionMap, PLoMSampler or Pipeline
        Fitted, with at least 3 components. A PLoMSampler (or a pipeline ending
        in one) stands for its ``diffusion_map_``.
    labels : array-like of shape (n_samples,), default=None
        Class of each training row. Up to 10 classes get one colour each and a
        legend; more classes are coloured through a colormap without a legend
        (numeric labels then get a colorbar).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.

    Raises
    ------
    ValueError
        If the map has fewer than 3 components or ``labels`` does not have one
        entry per training row.
    """
    dmap = _diffusion_map(diffusion_map)
    G = np.asarray(dmap.embedding_)
    if G.shape[1] < 3:
        raise ValueError(
            f"the diffusion map has {G.shape[1]} component(s); plotting the 2nd "
            "against the 3rd diffusion coordinate needs at least 3."
        )
    ax = _get_ax(ax, figsize=(5.5, 5))
    x, y = G[:, 1], G[:, 2]
    if labels is None:
        ax.scatter(x, y, s=12, alpha=0.8)
    else:
        labels = np.asarray(labels)
        if labels.shape != (G.shape[0],):
            raise ValueError(
                f"labels has shape {labels.shape}, but the diffusion map was fitted "
                f"on {G.shape[0]} rows; give one label per row."
            )
        classes, codes = np.unique(labels, return_inverse=True)
        if classes.size <= _MAX_LEGEND_CLASSES:
            cmap = _pyplot().get_cmap("tab10")
            for k, cls in enumerate(classes):
                mask = codes == k
                ax.scatter(
                    x[mask], y[mask], s=12, alpha=0.8, color=cmap(k), label=str(cls)
                )
            ax.legend(loc="best", fontsize="small", title="label")
        elif np.issubdtype(labels.dtype, np.number):
            points = ax.scatter(x, y, c=labels, s=12, alpha=0.8, cmap="viridis")
            ax.figure.colorbar(points, ax=ax, label="label")
        else:
            ax.scatter(x, y, c=codes, s=12, alpha=0.8, cmap="turbo")
            ax.text(
                0.02,
                0.98,
                f"{classes.size} classes",
                transform=ax.transAxes,
                va="top",
                fontsize="small",
            )
    _zoom_to_bulk(ax, x, y)
    ax.ticklabel_format(style="sci", scilimits=(-2, 3), useMathText=True)
    ax.set_xlabel("diffusion coordinate 2")
    ax.set_ylabel("diffusion coordinate 3")
    ax.set_title(f"Diffusion coordinates (m = {dmap.n_components_})")
    ax.grid(alpha=0.3)
    return ax


def plot_sweep(scores, alphas, epsilons, ax=None, metric="energy distance", best=None):
    r"""Heat-map of a score over an :math:`\alpha \times \varepsilon` grid.

    Parameters
    ----------
    scores : array-like of shape (n_alphas, n_epsilons)
        Score of each (alpha, epsilon) pair, e.g. an energy distance between
        held-out and synthetic spectra; ``nan`` cells are left blank.
    alphas : array-like of shape (n_alphas,)
        Attention exponents, one per row.
    epsilons : array-like of shape (n_epsilons,)
        Diffusion bandwidths, one per column (numbers or labels such as
        ``"auto"``).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.
    metric : str, default="energy distance"
        Name of the score, used for the colorbar and the title.
    best : tuple of int (row, column), default=None
        Cell to outline in red, e.g. the one with the best score; None outlines
        nothing.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on (the colorbar is a separate Axes of the same figure).

    Raises
    ------
    ValueError
        If the shape of ``scores`` is not ``(len(alphas), len(epsilons))``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    alphas = list(np.ravel(np.asarray(alphas, dtype=object)))
    epsilons = list(np.ravel(np.asarray(epsilons, dtype=object)))
    if scores.shape != (len(alphas), len(epsilons)):
        raise ValueError(
            f"scores has shape {scores.shape}, expected (len(alphas), "
            f"len(epsilons)) = ({len(alphas)}, {len(epsilons)}): one row per "
            "alpha, one column per epsilon."
        )
    if best is not None:
        best = tuple(int(k) for k in best)
        if len(best) != 2 or not all(
            0 <= k < n for k, n in zip(best, scores.shape, strict=True)
        ):
            raise ValueError(
                f"best={best!r} must be a (row, column) index into scores of shape "
                f"{scores.shape}."
            )
    ax = _get_ax(ax, figsize=(1.2 * len(epsilons) + 2.5, 0.7 * len(alphas) + 2))
    image = ax.imshow(scores, cmap="viridis", aspect="auto", origin="upper")
    ax.figure.colorbar(image, ax=ax, label=metric)
    finite = scores[np.isfinite(scores)]
    if finite.size:
        mid = (finite.min() + finite.max()) / 2.0
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                value = scores[i, j]
                if not np.isfinite(value):
                    continue
                ax.text(
                    j,
                    i,
                    f"{value:.3g}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="black" if value > mid else "white",
                )
    if best is not None:
        from matplotlib.patches import Rectangle

        ax.add_patch(
            Rectangle(
                (best[1] - 0.5, best[0] - 0.5),
                1.0,
                1.0,
                fill=False,
                edgecolor="tab:red",
                lw=3,
                label="best",
            )
        )
    ax.set_xticks(range(len(epsilons)), [_format_number(e) for e in epsilons])
    ax.set_yticks(range(len(alphas)), [_format_number(a) for a in alphas])
    ax.set_xlabel(r"diffusion bandwidth $\varepsilon$")
    ax.set_ylabel(r"attention exponent $\alpha$")
    ax.set_title(f"{metric[:1].upper()}{metric[1:]} over the parameter grid")
    return ax


def _fitted_sampler(pipeline):
    """The fitted PLoMSampler of a pipeline ending in one, or the sampler itself."""
    sampler = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    if not isinstance(sampler, PLoMSampler):
        raise TypeError(
            "expected a fitted PLoMSampler or a pipeline ending in one (e.g. from "
            f"make_aidm_pipeline), got {type(sampler).__name__}."
        )
    check_is_fitted(sampler)
    return sampler


def _attention_of(pipeline, sampler):
    """``(where, preconditioner)``: the fitted band weighting of the model, if any.

    ``where`` is ``"A"`` for an attention step before the sampler, ``"B"`` for
    attention in the kernel and ``"none"`` for plain PLoM.
    """
    if isinstance(pipeline, Pipeline):
        for _, step in pipeline.steps[:-1]:
            if isinstance(step, AttentionPreconditioner):
                return "A", step
    if getattr(sampler, "kernel_attention_", None) is not None:
        return "B", sampler.kernel_attention_
    return "none", None


def _report_numbers(sampler, variant, attention, n_generated):
    """The key numbers of a fitted model, as the second line of a report title."""
    dmap = sampler.diffusion_map_
    n_fit, r = sampler.eta_.shape
    text = (
        rf"N = {n_fit} training spectra, r = {r}, m = {dmap.n_components_}, "
        rf"$\varepsilon$ = {dmap.epsilon_:.4g} ({dmap.epsilon_rule_}), "
        f"{n_generated} generated; variant {variant}"
    )
    if attention is not None:
        text += rf", $\alpha$ = {attention.alpha:g}"
    return text


def plot_report(
    pipeline,
    X,
    X_new,
    wavelengths=None,
    *,
    weights=None,
    good_bands=None,
    labels=None,
    title="AIDM report",
    random_state=0,
):
    r"""One-page report of a fitted model: spectra, weights, spectrum, coordinates.

    Four panels: real against synthetic spectra (:func:`plot_spectra`), the band
    weights with bad bands shaded (:func:`plot_band_weights`), the diffusion-map
    eigenvalues with :math:`m` and the spectral gap (:func:`plot_eigenvalues`) and
    the 2nd against the 3rd diffusion coordinate of the training rows
    (:func:`plot_diffusion_coordinates`). The figure title gives the key numbers:
    the number :math:`N` of training spectra, the whitened dimension :math:`r`,
    the number :math:`m` of diffusion-map vectors, the bandwidth
    :math:`\varepsilon` with its rule, the number of generated spectra, the
    variant and :math:`\alpha`.

    Parameters
    ----------
    pipeline : Pipeline or PLoMSampler
        Fitted, ending in a :class:`~skaidm.plom.PLoMSampler` (e.g. from
        :func:`~skaidm.pipeline.make_aidm_pipeline`).
    X : array-like of shape (n_real, n_bands)
        Real spectra, usually the training spectra.
    X_new : array-like of shape (n_generated, n_bands)
        Generated spectra, e.g. from :func:`~skaidm.pipeline.sample`.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres in nm; None numbers the bands from 1.
    weights : array-like of shape (n_bands,), default=None
        Band weights to draw; None takes the fitted weights of the pipeline's
        :class:`~skaidm.attention.AttentionPreconditioner` (normalised to mean
        one). Without either (plain PLoM) the panel says so.
    good_bands : array-like of bool, shape (n_bands,), default=None
        True for usable bands; bad-band windows are shaded in the spectra and
        weights panels.
    labels : array-like of shape (n_fit,), default=None
        Class of each training row, to colour the diffusion coordinates.
    title : str, default="AIDM report"
        First line of the figure title; the second line holds the key numbers.
    random_state : int, default=0
        Seed of the choice of example synthetic spectra.

    Returns
    -------
    figure : matplotlib.figure.Figure
        The report, 15 x 9 inches; save it with ``figure.savefig``.

    Raises
    ------
    TypeError
        If ``pipeline`` is not a fitted PLoMSampler or a pipeline ending in one.
    ValueError
        If the spectra, weights, wavelengths or good bands do not have one entry
        per band.

    Examples
    --------
    >>> from skaidm import make_aidm_pipeline, sample
    >>> from skaidm.datasets import load_usgs_minerals
    >>> from skaidm.plotting import plot_report
    >>> data = load_usgs_minerals()
    >>> pipe = make_aidm_pipeline(bounds=(0.0, 1.5), random_state=0)
    >>> X_new = sample(pipe.fit(data.data), 500, random_state=0)  # doctest: +SKIP
    >>> fig = plot_report(pipe, data.data, X_new, data.wavelengths)  # doctest: +SKIP
    >>> fig.savefig("report.png")  # doctest: +SKIP
    """
    sampler = _fitted_sampler(pipeline)
    variant, attention = _attention_of(pipeline, sampler)
    X_new = np.asarray(X_new)
    n_bands = X_new.shape[-1]
    band_axis = "wavelength (nm)"
    if wavelengths is None:
        wavelengths, band_axis = np.arange(1.0, n_bands + 1), "band number"
    if weights is None and attention is not None:
        weights = attention.weights_
    plt = _pyplot()
    figure = plt.figure(figsize=(15, 9), layout="constrained")
    grid = figure.add_gridspec(2, 2, width_ratios=(1.9, 1.0))
    ax_spectra = figure.add_subplot(grid[0, 0])
    ax_weights = figure.add_subplot(grid[1, 0], sharex=ax_spectra)
    plot_spectra(
        X, X_new, wavelengths, good_bands, random_state=random_state, ax=ax_spectra
    )
    low, high = ax_spectra.get_ylim()
    ax_spectra.set_ylim(low, high + 0.25 * (high - low))  # room for the legend
    ax_spectra.legend(loc="upper center", fontsize="small", ncols=3)
    if weights is None:
        _placeholder(ax_weights, "plain PLoM (variant 'none'): no band weights")
        ax_weights.set_title("Band weights")
    else:
        plot_band_weights(weights, wavelengths, good_bands, ax=ax_weights)
        ax_weights.set_ylim(bottom=0.0)
        if attention is not None:
            ax_weights.set_title(
                rf"Band weights $w_j$ (the metric weighs band $j$ by $w_j^\alpha$, "
                rf"$\alpha$ = {attention.alpha:g})"
            )
    for ax in (ax_spectra, ax_weights):
        ax.set_xlabel(band_axis)
    plot_eigenvalues(sampler, ax=figure.add_subplot(grid[0, 1]))
    ax_coordinates = figure.add_subplot(grid[1, 1])
    if sampler.diffusion_map_.embedding_.shape[1] >= 3:
        plot_diffusion_coordinates(sampler, labels=labels, ax=ax_coordinates)
    else:
        _placeholder(
            ax_coordinates,
            f"m = {sampler.diffusion_map_.n_components_}: fewer than 3 coordinates",
        )
    figure.suptitle(
        f"{title}\n{_report_numbers(sampler, variant, attention, X_new.shape[0])}"
    )
    return figure
