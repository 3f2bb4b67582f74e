"""The ``skaidm`` command: synthetic spectra, parameter sweeps and band weights.

``skaidm generate`` fits the AIDM pipeline (built-in USGS spectra or ``--input``)
and writes synthetic spectra to a CSV file, with a one-page PNG report;
``skaidm sweep`` scores an alpha x epsilon grid by cross-validation with splits by
physical sample; ``skaidm weights`` writes a global band-weights CSV file. User
mistakes end with one ``skaidm: error: ...`` line on stderr and exit code 2;
outputs are written atomically (temp file + rename), so a failed or interrupted
run leaves no partial file behind.
"""

import argparse
import contextlib
import csv
import io
import itertools
import logging
import math
import os
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

from . import __version__
from ._io import atomic_write

PROG = "skaidm"
EXIT_USAGE = 2
LABEL_COLUMN = "label"
PLOTTING_HINT = 'pip install "skaidm[plotting]"'
FIGURE_DPI = 100
# Lower-is-better description of each --metric of ``skaidm sweep``.
METRICS = {
    "energy": "energy distance",
    "mmd": "squared MMD",
    "auc": "|two-sample AUC - 0.5|",
    "band_mean": "band-mean RMS error",
    "band_std": "band-std RMS error",
}


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``skaidm: error:`` line."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _warn(message):
    """One ``skaidm: warning:`` line on stderr."""
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr, flush=True)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Print warnings as one ``skaidm: warning:`` line each, without source lines."""
    _warn(message)


class _LogLines(logging.Handler):
    """Hand the records of a logger to a callback, one message each."""

    def __init__(self, callback):
        super().__init__(logging.INFO)
        self.callback = callback

    def emit(self, record):
        self.callback(record.getMessage())


class _Progress:
    """Stage lines on stderr with the elapsed time, silenced by ``--quiet``."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message):
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"{PROG}: [{elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def library_log(self):
        """Show the INFO log of skaidm (fit stages, realisations) as stage lines."""
        if self.quiet:
            yield
            return
        logger = logging.getLogger(PROG)
        handler, level = _LogLines(self), logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _write_csv(path, header, rows):
    """Write a CSV file atomically: the header, then the rows (iterables of cells)."""

    def write(f):
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text.flush()
        text.detach()

    atomic_write(path, write)


def _write_spectra(path, X, header):
    """Write spectra as CSV: the header, then one row per spectrum (exact floats)."""
    _write_csv(path, header, ([repr(float(v)) for v in row] for row in X))


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


class _Table(NamedTuple):
    """A CSV of spectra: values, optional labels and groups, value-column header."""

    X: np.ndarray
    labels: np.ndarray | None
    groups: np.ndarray | None
    header: list


def _read_rows(path, what):
    """Non-empty CSV rows as ``(line number, stripped cells)``; at least two."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as f:
            rows = [
                (lineno, [cell.strip() for cell in cells])
                for lineno, cells in enumerate(csv.reader(f), start=1)
                if any(cell.strip() for cell in cells)
            ]
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {name!r}") from None
    except IsADirectoryError:
        raise ValueError(f"{what} file {name!r} is a directory.") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{what} file {name!r} is not UTF-8 text: {error}") from None
    except csv.Error as error:
        raise ValueError(f"{what} file {name!r}: malformed CSV: {error}") from None
    if len(rows) < 2:
        raise ValueError(
            f"{what} file {name!r} needs a header row and at least one data row; "
            f"it has {len(rows)} non-empty line(s)."
        )
    return rows


def _groups_index(header, groups_column, name):
    """Index of the ``--groups`` column in ``header``, or None without one."""
    if groups_column is None:
        return None
    if groups_column in header:
        return header.index(groups_column)
    names = [cell for cell in header if not _is_number(cell)]
    listed = ", ".join(repr(cell) for cell in names) if names else "none"
    raise ValueError(
        f"--groups: input file {name!r} has no column named {groups_column!r} "
        f"(its non-numeric column names: {listed})."
    )


def _parse_row(cells, columns, lineno, name, what):
    """The float values of ``cells[j]`` for ``j`` in ``columns``."""
    row = []
    for j in columns:
        try:
            row.append(float(cells[j]))
        except ValueError:
            raise ValueError(
                f"{what} file {name!r}, line {lineno}, column {j + 1}: "
                f"{cells[j]!r} is not a number (only a first column named "
                f"'{LABEL_COLUMN}' and the --groups column may hold text)."
            ) from None
    if not np.all(np.isfinite(row)):
        j = columns[int(np.flatnonzero(~np.isfinite(row))[0])]
        raise ValueError(
            f"{what} file {name!r}, line {lineno}, column {j + 1}: "
            f"{cells[j]!r} is not a finite number."
        )
    return row


def _read_table(path, what, groups_column=None):
    """Read a CSV of spectra with a header row and optional text columns.

    A first column named ``label`` (any case) holds class labels; the column named
    ``groups_column`` holds physical-sample ids. Every other column is a band.
    Returns a :class:`_Table`. Raises FileNotFoundError or a ValueError naming the
    file, line and column of the first problem.
    """
    name = os.fspath(path)
    (_, header), *data = _read_rows(path, what)
    label = 0 if header[0].lower() == LABEL_COLUMN else None
    groups = _groups_index(header, groups_column, name)
    columns = [j for j in range(len(header)) if j not in (label, groups)]
    if not columns:
        raise ValueError(f"{what} file {name!r}: the header has no value columns.")
    values = []
    for lineno, cells in data:
        if len(cells) != len(header):
            raise ValueError(
                f"{what} file {name!r}, line {lineno}: {len(cells)} columns, but the "
                f"header has {len(header)}; every row must have the same number of "
                "columns."
            )
        values.append(_parse_row(cells, columns, lineno, name, what))

    def text(j):
        return None if j is None else np.asarray([cells[j] for _, cells in data])

    return _Table(
        np.asarray(values, dtype=np.float64),
        text(label),
        text(groups),
        [header[j] for j in columns],
    )


def _read_labels(path, n_samples):
    """One label per line; a first line ``label`` (any case) is a header."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as f:
            lines = [line.strip() for line in f.read().splitlines()]
    except FileNotFoundError:
        raise FileNotFoundError(f"labels file not found: {name!r}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"labels file {name!r} is not UTF-8 text: {error}") from None
    lines = [line for line in lines if line]
    if lines and lines[0].lower() in (LABEL_COLUMN, "labels", "class", "target"):
        lines = lines[1:]
    if len(lines) != n_samples:
        raise ValueError(
            f"labels file {name!r} has {len(lines)} labels, but the attention file "
            f"has {n_samples} rows; give one label per row."
        )
    return np.asarray(lines)


def _wavelengths_from_header(header):
    """The header as strictly increasing wavelengths, or None."""
    if not all(_is_number(cell) for cell in header):
        return None
    wl = np.array([float(cell) for cell in header])
    if not (np.all(np.isfinite(wl)) and np.all(np.diff(wl) > 0)):
        return None
    return wl


class _Data(NamedTuple):
    """Spectra to fit: values, labels and groups (or None), header, wavelengths.

    ``source`` names them in messages, ``name`` (the file name alone) in titles.
    """

    X: np.ndarray
    labels: np.ndarray | None
    groups: np.ndarray | None
    header: list
    wavelengths: np.ndarray | None
    source: str
    name: str


def _load_data(args, progress, groups_column=None):
    """The spectra of ``--input`` or the built-in USGS library, as :class:`_Data`."""
    if args.input is not None:
        progress(f"loading {args.input!r}")
        table = _read_table(args.input, "input", groups_column)
        data = _Data(
            *table,
            _wavelengths_from_header(table.header),
            f"input file {args.input!r}",
            repr(os.path.basename(args.input)),
        )
    else:
        from .datasets import load_usgs_minerals

        if groups_column is not None:
            raise ValueError(
                f"--groups {groups_column!r} names a column of --input FILE; the "
                "built-in USGS library brings its own physical-sample groups."
            )
        progress("loading the built-in USGS splib07a mineral spectra")
        usgs = load_usgs_minerals()
        data = _Data(
            np.asarray(usgs.data),
            np.asarray(usgs.target),
            np.asarray(usgs.groups),
            [str(name) for name in usgs.feature_names],
            np.asarray(usgs.wavelengths),
            "the built-in USGS library",
            "the built-in USGS library",
        )
    progress(f"{data.X.shape[0]} spectra x {data.X.shape[1]} bands from {data.source}")
    return data


def _n_jobs(args):
    """``--n-jobs``, all cores by default."""
    return -1 if args.n_jobs is None else args.n_jobs


def _fallback_weights(X, y, args, progress):
    from .attention import band_importance

    progress("computing band weights with band_importance")
    w = band_importance(X, y, random_state=0, n_jobs=_n_jobs(args))
    print(
        f"{PROG}: band weights are the data-driven fallback "
        "(skaidm.attention.band_importance, mutual information with the labels), "
        "NOT Transformer attention",
        file=sys.stderr,
        flush=True,
    )
    return w


def _class_weights(path, args, n_features=None):
    """Global weights from a per-class attention file and the class counts."""
    from .attention import read_class_weights

    return read_class_weights(
        path,
        counts=None if args.balanced else args.class_counts,
        balanced=args.balanced,
        n_features=n_features,
    )


def _model_weights(args, data, progress):
    """``(weights, description)``: ``--weights`` (global or per class) or a default.

    Without ``--weights``: None for ``--variant none``, the band_importance fallback
    with labels, and None (uniform) otherwise.
    """
    from .attention import read_weights

    per_class = args.class_counts is not None or args.balanced
    n_features = data.X.shape[1]
    if args.weights is not None and per_class:
        progress(f"reading per-class attention {args.weights!r}")
        return _class_weights(args.weights, args, n_features), "per-class attention"
    if args.weights is not None:
        progress(f"reading band weights {args.weights!r}")
        name = repr(os.path.basename(args.weights))
        return read_weights(args.weights, n_features=n_features), name
    if per_class:
        raise ValueError(
            "--class-counts and --balanced need --weights FILE: the per-class mean "
            "attention (one row per class: label, then one value per band)."
        )
    if args.variant == "none":
        return None, "none (plain PLoM)"
    if data.labels is not None:
        return (
            _fallback_weights(data.X, data.labels, args, progress),
            "band_importance fallback, not attention",
        )
    progress("no label column: uniform band weights")
    return None, "uniform"


def _bounds(args):
    return None if args.no_bounds else tuple(args.bounds)


def _check_bounds(args, X):
    """Fail before the slow work when the spectra are not inside ``--bounds``."""
    from .bounds import BoundedTransform

    bounds = _bounds(args)
    if bounds is not None:
        try:
            BoundedTransform(*bounds).fit(X)
        except ValueError as error:
            raise ValueError(f"--bounds {bounds[0]:g} {bounds[1]:g}: {error}") from None


def _make_pipeline(args, weights, alpha, epsilon, n_jobs=None):
    from .pipeline import make_aidm_pipeline

    return make_aidm_pipeline(
        weights,
        alpha=alpha,
        variant=args.variant,
        bounds=_bounds(args),
        epsilon=epsilon,
        n_jobs=n_jobs,
        random_state=args.seed,
    )


def _fit(pipe, X, progress):
    with progress.library_log():
        return pipe.fit(X)


def _save_model(pipe, header, path, progress):
    """Write the fitted pipeline with its band names (joblib), atomically."""
    import joblib

    pipe.skaidm_feature_names_ = list(header)
    progress(f"saving the fitted pipeline to {path!r}")
    atomic_write(path, lambda f: joblib.dump(pipe, f))


def _load_model(path, progress):
    """A fitted skaidm pipeline from a joblib file."""
    import joblib
    from sklearn.utils.validation import check_is_fitted

    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"model file not found: {name!r}")
    progress(f"loading model {name!r}")
    try:
        model = joblib.load(name)
    except Exception as error:  # anything unpicklable is a bad model file
        raise ValueError(
            f"cannot load model file {name!r}: {type(error).__name__}: {error}; "
            "save one with 'skaidm generate --save-model FILE'."
        ) from None
    if not hasattr(model, "steps") or not hasattr(model.steps[-1][1], "sample"):
        raise ValueError(
            f"model file {name!r} holds a {type(model).__name__}, not a fitted "
            "skaidm pipeline; save one with 'skaidm generate --save-model FILE'."
        )
    try:
        check_is_fitted(model.steps[-1][1])
    except Exception:
        raise ValueError(f"model file {name!r} is not fitted.") from None
    return model


def _sample(pipe, n_samples, seed, progress):
    """Draw ``n_samples`` spectra; realisations are progress lines unless quiet."""
    from .pipeline import sample

    progress(f"sampling {n_samples} spectra")
    pipe.steps[-1][1].set_params(verbose=0 if progress.quiet else 1)
    with progress.library_log():
        return sample(pipe, n_samples, random_state=seed)


def _default_header(n_features):
    from .datasets import load_usgs_minerals

    data = load_usgs_minerals()
    if len(data.feature_names) == n_features:
        return [str(name) for name in data.feature_names]
    return [f"band_{j + 1}" for j in range(n_features)]


def _good_bands(wavelengths):
    """The EMIT good-band mask when ``wavelengths`` are the EMIT band centres."""
    from .datasets import load_emit_bands

    if wavelengths is None:
        return None
    bands = load_emit_bands()
    emit = np.asarray(bands.wavelengths)
    if emit.shape == wavelengths.shape and np.allclose(emit, wavelengths, atol=0.01):
        return np.asarray(bands.good_bands)
    return None


# ---------------------------------------------------------------------------
# Output files and figures
# ---------------------------------------------------------------------------


def _check_output_dir(path, option):
    """Fail before the slow work when an output cannot be written."""
    name = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"{option}: directory {directory!r} of {name!r} does not exist."
        )
    if os.path.isdir(name):
        raise ValueError(f"{option}: {name!r} is a directory; give a file name.")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{option}: directory {directory!r} is not writable.")


def _figure_format(path, option, explicit):
    """Check early that a figure can be written to ``path``; returns its format.

    Without matplotlib, a figure asked for explicitly is an error; a default one is
    skipped with a warning (the format is then None).
    """
    try:
        import matplotlib
    except ImportError:
        if explicit:
            raise ValueError(
                f"{option} needs matplotlib, which is not installed: {PLOTTING_HINT}"
            ) from None
        _warn(
            f"matplotlib is not installed, so no {option.lstrip('-')} is written: "
            f"{PLOTTING_HINT}"
        )
        return None
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # no display needed
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    supported = FigureCanvasBase.get_supported_filetypes()
    if suffix[1:] not in supported:
        raise ValueError(
            f"{option} {os.fspath(path)!r}: unknown image type {suffix or '(none)'}; "
            f"use .png (or one of {', '.join('.' + k for k in sorted(supported))})."
        )
    _check_output_dir(path, option)
    return suffix[1:]


def _render(figure, fmt):
    """The figure as image bytes of format ``fmt``; closes the figure."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format=fmt, dpi=FIGURE_DPI)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _write_bytes(path, content):
    atomic_write(path, lambda f: f.write(content))


def _format_value(value):
    """A grid value for tables and file names: a rule name or the shortest float."""
    return value if isinstance(value, str) else f"{value:g}"


# ---------------------------------------------------------------------------
# skaidm generate
# ---------------------------------------------------------------------------


def _report_target(args):
    """``(path, explicit)`` of the report; path None when there is none to write."""
    if args.no_report:
        return None, False
    if args.report is not None:
        if args.model is not None and args.input is None:
            raise ValueError(
                "--report with --model needs --input FILE: the real spectra to "
                "compare the synthetic ones with."
            )
        return args.report, True
    if args.model is not None and args.input is None:
        return None, False  # no real spectra to compare with
    return f"{os.path.splitext(args.output)[0]}_report.png", False


def _report(pipe, data, X_new, labels, weights_note, fmt, progress):
    """The report figure of a generate run, rendered to image bytes."""
    from .plotting import plot_report

    progress("drawing the report")
    figure = plot_report(
        pipe,
        data.X,
        X_new,
        data.wavelengths,
        good_bands=_good_bands(data.wavelengths),
        labels=labels,
        title=f"skaidm generate on {data.name}; band weights: {weights_note}",
    )
    return _render(figure, fmt)


def _generate(args):
    progress = _Progress(args.quiet)
    if args.n_samples < 1:
        raise ValueError(f"--n-samples must be >= 1, got {args.n_samples}.")
    _check_output_dir(args.output, "--output")
    if args.save_model is not None:
        _check_output_dir(args.save_model, "--save-model")
    report, explicit = _report_target(args)
    fmt = _figure_format(report, "--report", explicit) if report else None
    data = labels = None
    if args.model is not None:
        pipe = _load_model(args.model, progress)
        header = getattr(pipe, "skaidm_feature_names_", None)
        n_features = pipe.steps[-1][1].n_features_in_
        header = header or _default_header(n_features)
        weights_note = "as in the model"
        if fmt:
            data = _load_data(args, progress)
            if data.X.shape[1] != n_features:
                raise ValueError(
                    f"--input has {data.X.shape[1]} bands, but the model was fitted "
                    f"on {n_features}; compare with spectra of the same bands."
                )
    else:
        data = _load_data(args, progress)
        _check_bounds(args, data.X)
        weights, weights_note = _model_weights(args, data, progress)
        progress(
            f"fitting make_aidm_pipeline (variant={args.variant}, alpha={args.alpha:g}"
            f", epsilon={_format_value(args.epsilon)}, bounds={_bounds(args)})"
        )
        pipe = _make_pipeline(args, weights, args.alpha, args.epsilon, args.n_jobs)
        _fit(pipe, data.X, progress)
        header, labels = data.header, data.labels
        if args.save_model is not None:
            _save_model(pipe, header, args.save_model, progress)
    X_new = _sample(pipe, args.n_samples, args.seed, progress)
    image = None
    if fmt:
        image = _report(pipe, data, X_new, labels, weights_note, fmt, progress)
    progress(f"writing {X_new.shape[0]} x {X_new.shape[1]} spectra to {args.output!r}")
    _write_spectra(args.output, X_new, header)
    if image:
        progress(f"writing the report to {report!r}")
        _write_bytes(report, image)
    progress("done")
    return 0


# ---------------------------------------------------------------------------
# skaidm sweep
# ---------------------------------------------------------------------------


class _Split(NamedTuple):
    """One fit and score of a grid cell: the score (lower is better) and details."""

    score: float
    epsilon: float
    m: float
    warnings: list
    error: str | None


def _score_split(pipe, X, train, test, scorer):
    """Fit a clone of ``pipe`` on the training rows and score it on the test rows.

    Failures and warnings are returned rather than raised, so that a parallel sweep
    reports them on one line each and goes on with the other cells.
    """
    from sklearn.base import clone

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = clone(pipe).fit(X[train])
            score = -scorer(fitted, X[test])
        except Exception as error:  # reported as a failed split
            messages = [str(w.message) for w in caught]
            return _Split(math.nan, math.nan, math.nan, messages, f"{error}")
    dmap = fitted.steps[-1][1].diffusion_map_
    messages = [str(w.message) for w in caught]
    return _Split(score, dmap.epsilon_, dmap.n_components_, messages, None)


def _check_groups(data, n_splits):
    """The physical-sample groups of the sweep; enough of them for the splits."""
    if data.groups is None:
        raise ValueError(
            "the sweep's splits must keep all spectra of one physical sample "
            f"together, but {data.source} has no groups: pass --groups COLUMN, the "
            "column of sample ids (a column of row numbers if every spectrum is a "
            "sample of its own)."
        )
    n_groups = len(np.unique(data.groups))
    if n_groups < n_splits:
        raise ValueError(
            f"--n-splits {n_splits} needs at least {n_splits} groups (physical "
            f"samples), but {data.source} has {n_groups}."
        )
    return data.groups


def _cell_row(alpha, epsilon, splits, metric):
    """A row of the sweep table: the cell, mean and std of its split scores."""
    scores = np.array([split.score for split in splits])
    failed = np.isnan(scores).all()
    return {
        "alpha": alpha,
        "epsilon": epsilon,
        "mean": float(scores.mean()),
        "std": float(scores.std()),
        "scores": scores.tolist(),
        "epsilon_fitted": math.nan
        if failed
        else float(np.nanmean([split.epsilon for split in splits])),
        "m_fitted": math.nan
        if failed
        else float(np.nanmean([split.m for split in splits])),
        "metric": metric,
    }


def _report_cell_problems(cell, splits):
    """One warning line for the warnings and one for the failures of a cell."""
    messages = [message for split in splits for message in split.warnings]
    if messages:
        more = f" ({len(messages) - 1} more like it)" if len(messages) > 1 else ""
        _warn(f"{cell}: {messages[0]}{more}")
    errors = [split.error for split in splits if split.error is not None]
    if errors:
        _warn(f"{cell}: {len(errors)} of {len(splits)} splits failed: {errors[0]}")


def _run_grid(args, data, weights, groups, progress):
    """Score every (alpha, epsilon) cell; returns the rows of the sweep table."""
    from joblib import Parallel, delayed
    from sklearn.model_selection import GroupKFold

    from .metrics import generation_scorer

    scorer = generation_scorer(
        args.metric, n_samples=args.n_samples, random_state=args.seed
    )
    splits = list(GroupKFold(n_splits=args.n_splits).split(data.X, groups=groups))
    cells = list(itertools.product(args.alpha, args.epsilon))
    label = METRICS[args.metric]
    rows = []
    with Parallel(n_jobs=_n_jobs(args)) as parallel:
        for i, (alpha, epsilon) in enumerate(cells, start=1):
            cell = f"alpha={alpha:g}, epsilon={_format_value(epsilon)}"
            start = time.perf_counter()
            pipe = _make_pipeline(args, weights, alpha, epsilon)
            results = parallel(
                delayed(_score_split)(pipe, data.X, train, test, scorer)
                for train, test in splits
            )
            _report_cell_problems(cell, results)
            row = _cell_row(alpha, epsilon, results, args.metric)
            rows.append(row)
            progress(
                f"cell {i}/{len(cells)}: {cell}: {label} {row['mean']:.4g} +/- "
                f"{row['std']:.2g} ({time.perf_counter() - start:.1f} s)"
            )
    return rows


def _best_row(rows):
    """Index of the row with the lowest mean score."""
    means = np.array([row["mean"] for row in rows])
    if np.isnan(means).all():
        raise ValueError(
            "every cell of the grid failed on some split; see the warnings above."
        )
    return int(np.nanargmin(means))


def _write_sweep_table(path, rows):
    """The sweep table as CSV: one row per cell, exact floats."""
    n_splits = len(rows[0]["scores"])
    header = [
        "alpha",
        "epsilon",
        "mean",
        "std",
        *(f"split_{k + 1}" for k in range(n_splits)),
        "epsilon_fitted",
        "m_fitted",
        "metric",
    ]

    def cell(value):
        return value if isinstance(value, str) else repr(float(value))

    def cells(row):
        values = [row["alpha"], row["epsilon"], row["mean"], row["std"]]
        values += [*row["scores"], row["epsilon_fitted"], row["m_fitted"]]
        return [*map(cell, values), row["metric"]]

    _write_csv(path, header, map(cells, rows))


def _print_sweep_table(rows, best, args, data):
    """The sweep table on stdout, the best cell marked."""
    label = METRICS[args.metric]
    n_groups = len(np.unique(data.groups))
    print(
        f"{label} (lower is better): mean and std over {args.n_splits} GroupKFold "
        f"splits of {data.X.shape[0]} spectra from {n_groups} physical samples"
    )
    columns = ("alpha", "epsilon", "epsilon_fitted", "m_fitted", "mean", "std")
    lines = [
        [
            f"{row['alpha']:g}",
            _format_value(row["epsilon"]),
            f"{row['epsilon_fitted']:.4g}",
            f"{row['m_fitted']:.0f}",
            f"{row['mean']:#.5g}",
            f"{row['std']:#.3g}",
        ]
        for row in rows
    ]
    widths = [
        max(len(c), *(len(line[k]) for line in lines)) for k, c in enumerate(columns)
    ]
    print("  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for i, line in enumerate(lines):
        text = "  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True))
        print(("* " if i == best else "  ") + text + ("  <- best" if i == best else ""))
    row = rows[best]
    print(
        f"best: alpha={row['alpha']:g}, epsilon={_format_value(row['epsilon'])} "
        f"({label} {row['mean']:#.5g})",
        flush=True,
    )


def _heatmap(rows, best, args, fmt):
    """The heat-map of the mean scores over the grid, rendered to image bytes."""
    from .plotting import plot_sweep

    means = np.array([row["mean"] for row in rows])
    means = means.reshape(len(args.alpha), len(args.epsilon))
    label = METRICS[args.metric]
    ax = plot_sweep(
        means,
        args.alpha,
        [_format_value(e) for e in args.epsilon],
        metric=f"mean {label}",
        best=divmod(best, len(args.epsilon)),
    )
    ax.set_title(
        f"{label[:1].upper()}{label[1:]} (lower is better)\nmean over "
        f"{args.n_splits} group splits; red box: best"
    )
    return _render(ax.figure, fmt)


def _sweep(args):
    progress = _Progress(args.quiet)
    if args.n_splits < 2:
        raise ValueError(f"--n-splits must be >= 2, got {args.n_splits}.")
    if args.n_samples < 2:
        raise ValueError(f"--n-samples must be >= 2, got {args.n_samples}.")
    for path, option in ((args.output, "--output"), (args.save_model, "--save-model")):
        if path is not None:
            _check_output_dir(path, option)
    fmt = _figure_format(args.heatmap, "--heatmap", True) if args.heatmap else None
    data = _load_data(args, progress, groups_column=args.groups)
    groups = _check_groups(data, args.n_splits)
    _check_bounds(args, data.X)
    weights, _ = _model_weights(args, data, progress)
    n_cells = len(args.alpha) * len(args.epsilon)
    progress(
        f"sweeping {n_cells} cells x {args.n_splits} splits (variant={args.variant}, "
        f"metric={args.metric}, {args.n_samples} synthetic spectra per split)"
    )
    if args.variant == "none" and len(args.alpha) > 1:
        _warn("--variant none is plain PLoM: alpha has no effect on its cells.")
    rows = _run_grid(args, data, weights, groups, progress)
    best = _best_row(rows)
    image = _heatmap(rows, best, args, fmt) if fmt else None
    if args.save_model is not None:
        row = rows[best]
        progress(
            f"refitting the best cell (alpha={row['alpha']:g}, "
            f"epsilon={_format_value(row['epsilon'])}) on all spectra"
        )
        pipe = _make_pipeline(args, weights, row["alpha"], row["epsilon"])
        _fit(pipe, data.X, progress)
        _save_model(pipe, data.header, args.save_model, progress)
    if args.output is not None:
        progress(f"writing the table to {args.output!r}")
        _write_sweep_table(args.output, rows)
    if image:
        progress(f"writing the heat-map to {args.heatmap!r}")
        _write_bytes(args.heatmap, image)
    _print_sweep_table(rows, best, args, data)
    progress("done")
    return 0


# ---------------------------------------------------------------------------
# skaidm weights
# ---------------------------------------------------------------------------


def _weights(args):
    from .attention import weights_from_attention, write_weights

    progress = _Progress(args.quiet)
    _check_output_dir(args.output, "--output")
    wavelengths = None
    if args.from_class is not None:
        if args.class_counts is None and not args.balanced:
            raise ValueError(
                "--from-class needs --class-counts FILE (or --balanced for equal "
                "class weights)."
            )
        progress(f"reading per-class attention {args.from_class!r}")
        w = _class_weights(args.from_class, args)
    elif args.from_attention is not None:
        progress(f"reading per-sample attention {args.from_attention!r}")
        A, y, _, header = _read_table(args.from_attention, "attention")
        wavelengths = _wavelengths_from_header(header)
        if args.labels is not None:
            y = _read_labels(args.labels, A.shape[0])
        w = weights_from_attention(A, y, balanced=y is not None)
    else:
        data = _load_data(args, progress)
        if data.labels is None:
            raise ValueError(
                f"--fallback needs class labels: the first column of {data.source} "
                f"must be named '{LABEL_COLUMN}'."
            )
        w = _fallback_weights(data.X, data.labels, args, progress)
        wavelengths = data.wavelengths
    if wavelengths is None or len(wavelengths) != len(w):
        from .datasets import load_usgs_minerals

        built_in = np.asarray(load_usgs_minerals().wavelengths)
        wavelengths = built_in if len(built_in) == len(w) else None
    progress(f"writing {len(w)} band weights to {args.output!r}")
    write_weights(args.output, w, wavelengths)
    progress("done")
    return 0


# ---------------------------------------------------------------------------
# Parser and entry point
# ---------------------------------------------------------------------------


def _epsilon(text):
    """An ``--epsilon`` value: a positive number or a rule name."""
    from .diffusion import EPSILON_RULES  # deferred: keeps start-up light

    if text in EPSILON_RULES:
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a positive number nor one of the rules "
            f"{', '.join(EPSILON_RULES)}"
        )
    return value


def _alpha(text):
    """An ``--alpha`` value: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number >= 0")
    return value


def _parent_parsers():
    """Options shared by subcommands: data and jobs, class counts, model settings."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--input",
        metavar="FILE",
        help="CSV of spectra with a header row (band names); an optional first "
        "column named 'label' holds class labels (default: the built-in USGS "
        "mineral library)",
    )
    common.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel jobs (default: all cores for band weights and sweep splits)",
    )
    common.add_argument("--quiet", action="store_true", help="no progress lines")

    classes = argparse.ArgumentParser(add_help=False)
    classes.add_argument(
        "--class-counts",
        metavar="FILE",
        help="label,count CSV: the attention file holds per-class mean attention "
        "(one row per class), averaged weighted by these class counts",
    )
    classes.add_argument(
        "--balanced",
        action="store_true",
        help="per-class mean attention with every class counting equally",
    )

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument(
        "--weights",
        metavar="FILE",
        help="global band-weights CSV, or per-class mean attention with "
        "--class-counts/--balanced (default: band_importance on the labels, a "
        "data-driven fallback, not attention)",
    )
    model.add_argument(
        "--variant", choices=["none", "A", "B"], default="B", help="(default: B)"
    )
    bounds = model.add_mutually_exclusive_group()
    bounds.add_argument(
        "--bounds",
        nargs=2,
        type=float,
        default=[0.0, 1.5],
        metavar=("LOW", "HIGH"),
        help="open interval of the data and the output (default: 0 1.5)",
    )
    bounds.add_argument("--no-bounds", action="store_true", help="no bounds step")
    model.add_argument(
        "--seed", type=int, default=0, help="random seed (fit and sample; default: 0)"
    )
    return common, classes, model


def _add_generate(sub, parents):
    gen = sub.add_parser(
        "generate",
        parents=parents,
        help="fit the AIDM pipeline and write synthetic spectra and a report",
        description="Fit make_aidm_pipeline on spectra and write synthetic spectra "
        "to a CSV file (header = band names, one spectrum per row) and a one-page "
        "report (real against synthetic spectra, band weights, diffusion-map "
        "spectrum and coordinates).",
    )
    gen.add_argument(
        "-o",
        "--output",
        default="skaidm_synthetic.csv",
        metavar="FILE",
        help="output CSV (default: skaidm_synthetic.csv)",
    )
    report = gen.add_mutually_exclusive_group()
    report.add_argument(
        "--report",
        metavar="FILE",
        help="report figure, .png (or .pdf, .svg) (default: <output>_report.png; "
        "needs matplotlib)",
    )
    report.add_argument("--no-report", action="store_true", help="no report")
    gen.add_argument(
        "--alpha", type=_alpha, default=1.0, help="weights exponent (default: 1)"
    )
    gen.add_argument(
        "--epsilon",
        type=_epsilon,
        default="auto",
        help="kernel bandwidth: a number or a rule (auto, gap, knn; default: auto)",
    )
    gen.add_argument(
        "--n-samples",
        type=int,
        default=1000,
        metavar="N",
        help="number of spectra (default: 1000)",
    )
    gen.add_argument(
        "--save-model", metavar="FILE", help="save the fitted pipeline (joblib)"
    )
    gen.add_argument(
        "--model",
        metavar="FILE",
        help="load a saved pipeline instead of fitting, then sample (a report "
        "needs --input: the real spectra to compare with)",
    )
    gen.set_defaults(func=_generate)


def _add_sweep(sub, parents):
    sweep = sub.add_parser(
        "sweep",
        parents=parents,
        help="cross-validate an alpha x epsilon grid by physical sample",
        description="Score every (alpha, epsilon) cell by cross-validation: fit "
        "on the training splits, generate spectra, compare them with the held-out "
        "split (GroupKFold: the spectra of one physical sample stay together). "
        "Prints the table with the best cell marked. Without --weights, the "
        "fallback band weights are computed once from all spectra and labels, "
        "held-out splits included: the cells share them, so their ranking is fair, "
        "but absolute scores are slightly optimistic.",
    )
    sweep.add_argument(
        "--alpha",
        type=_alpha,
        nargs="+",
        default=[0.5, 0.7, 1.0],
        metavar="A",
        help="weights exponents (default: 0.5 0.7 1)",
    )
    sweep.add_argument(
        "--epsilon",
        type=_epsilon,
        nargs="+",
        default=["knn", 3.0, 10.0],
        metavar="E",
        help="kernel bandwidths: numbers and/or rules (auto, gap, knn) "
        "(default: knn 3 10)",
    )
    sweep.add_argument(
        "--groups",
        metavar="COLUMN",
        help="column of --input holding physical-sample ids (the built-in library "
        "has its own)",
    )
    sweep.add_argument(
        "--n-splits",
        type=int,
        default=5,
        metavar="K",
        help="GroupKFold splits (default: 5)",
    )
    sweep.add_argument(
        "--metric",
        choices=sorted(METRICS),
        default="energy",
        help="fidelity of the generated spectra to the held-out split, lower is "
        "better (default: energy)",
    )
    sweep.add_argument(
        "--n-samples",
        type=int,
        default=1000,
        metavar="N",
        help="synthetic spectra scored per split (default: 1000)",
    )
    sweep.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="CSV table: alpha, epsilon, mean, std, split_1..split_K, "
        "epsilon_fitted, m_fitted, metric",
    )
    sweep.add_argument(
        "--heatmap", metavar="FILE", help="heat-map of the mean scores (.png)"
    )
    sweep.add_argument(
        "--save-model",
        metavar="FILE",
        help="refit the best cell on all spectra and save it (joblib)",
    )
    sweep.set_defaults(func=_sweep)


def _add_weights(sub, parents):
    wts = sub.add_parser(
        "weights",
        parents=parents,
        help="write a global band-weights CSV",
        description="Build global band weights and write them as "
        "band,wavelength_nm,weight CSV.",
    )
    wts.add_argument("-o", "--output", required=True, metavar="FILE")
    how = wts.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--from-class",
        metavar="FILE",
        help="per-class mean attention CSV (with --class-counts or --balanced)",
    )
    how.add_argument(
        "--from-attention",
        metavar="FILE",
        help="per-sample attention CSV (header row, optional 'label' column)",
    )
    how.add_argument(
        "--fallback",
        action="store_true",
        help="band_importance on --input or the built-in data (NOT attention)",
    )
    wts.add_argument(
        "--labels",
        metavar="FILE",
        help="one label per attention row (class-balanced mean)",
    )
    wts.set_defaults(func=_weights)


def _build_parser():
    parser = _ArgumentParser(
        prog=PROG,
        description="Realistic synthetic spectra with PLoM and band-weighted "
        "diffusion maps.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common, classes, model = _parent_parsers()
    _add_generate(sub, [common, model, classes])
    _add_sweep(sub, [common, model, classes])
    _add_weights(sub, [common, classes])
    return parser


def _error_message(error):
    """The message of an error on one line, without an ``[Errno N]`` prefix."""
    message = str(error)
    if isinstance(error, OSError) and error.strerror:
        message = error.strerror
        if error.filename is not None and os.fspath(error.filename) not in message:
            message = f"{message}: {os.fspath(error.filename)!r}"
    return " ".join(message.split())


def main(argv=None):
    """Run the ``skaidm`` command; returns the exit code."""
    args = _build_parser().parse_args(argv)
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return args.func(args)
    except (ValueError, OSError) as error:  # FileNotFoundError is an OSError
        print(f"{PROG}: error: {_error_message(error)}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":
    sys.exit(main())
