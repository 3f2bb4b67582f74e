"""Band weights from Transformer attention, and the attention preconditioner.

A spectral Transformer whose tokens are bands gives, through its attention, a
non-negative importance per band. This module turns that attention into one global
weight vector ``w`` (non-negative, summing to one, floored at a small ``floor``) and
applies it to spectra as :math:`x \\mapsto x \\odot w^{\\alpha/2}`:

- :func:`check_weights` validates any weight vector;
- :func:`read_weights` reads a global weights CSV (one weight per band);
- :func:`read_class_weights` combines per-class mean attention with class counts;
- :func:`weights_from_attention` averages raw per-sample attention vectors;
- :func:`band_importance` is the data-driven fallback when no attention exists. It
  is a supervised relevance score (mutual information), **not** attention;
- :func:`write_weights` writes a weights CSV that :func:`read_weights` reads back;
- :class:`AttentionPreconditioner` is the scikit-learn transformer;
- :func:`kernel_metric_factor` carries the weights into the kernel metric of whitened
  coordinates (Option B), and :func:`check_attention_whitening` warns when a
  full-rank whitening cancels the preconditioning (Option A).

No attention file ships with skaidm: weights come from the user's own model.
"""

# SPDX-License-Identifier: BSD-3-Clause

import csv
import errno
import numbers
import os
import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.feature_selection import mutual_info_classif
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    check_X_y,
    column_or_1d,
    validate_data,
)

from ._io import atomic_write

__all__ = [
    "AttentionCancelledWarning",
    "AttentionPreconditioner",
    "band_importance",
    "check_attention_whitening",
    "check_weights",
    "kernel_metric_factor",
    "read_class_weights",
    "read_weights",
    "weights_from_attention",
    "write_weights",
]

# First cells that mark the first row of a per-class attention file as a header even
# when every other cell is a number (e.g. a header of wavelengths). An empty first cell
# is what ``pandas.DataFrame.to_csv`` writes above an unnamed index.
_CLASS_HEADER_WORDS = frozenset(
    {"", "class", "classes", "label", "labels", "class_label", "class_name", "target"}
)

# Mutual-information estimates (in nats) at or below this are round-off, not signal:
# the k-NN estimator returns about 4e-16 for every band when y has a single class,
# while any real dependence measurable from N samples is of order 1 / N or more.
_MI_ZERO_TOL = 1e-12


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _source_prefix(source):
    """Return ``"<source>: "`` for messages about weights read from a file."""
    return "" if source is None else f"{source}: "


def _check_floor(floor):
    """Validate the type and sign of ``floor``; its upper bound needs n_features."""
    if (
        isinstance(floor, bool)
        or not isinstance(floor, numbers.Real)
        or not np.isfinite(floor)
        or floor < 0
    ):
        raise ValueError(f"floor must be a finite real number >= 0, got {floor!r}.")
    return float(floor)


def _floor_weights(w, floor):
    """Floor weights that sum to one while keeping their sum equal to one.

    Returns :math:`w'_j = \\max(f, c\\, w_j)` with the scalar :math:`c \\le 1` chosen so
    that :math:`\\sum_j w'_j = 1` (:math:`f` is ``floor``). Raising the small weights
    to the floor adds mass, which is taken from the weights above the floor in
    proportion to their size, so their ratios are preserved and every returned weight
    is at least ``floor``. Because of that the operation is idempotent: flooring
    floored weights changes nothing, which makes :func:`write_weights` and
    :func:`read_weights` round trips exact.

    Parameters
    ----------
    w : ndarray of shape (n_features,)
        Non-negative weights summing to one (up to rounding).
    floor : float
        Floor, in ``[0, 1 / n_features)``.

    Returns
    -------
    w_floored : ndarray of shape (n_features,)
        Floored weights.
    """
    low = w < floor
    if not low.any():
        return w
    # Fixed point of: entries with c * w_j < floor are set to floor, the others are
    # scaled by c = (1 - k floor) / (sum of the others). The floored set only grows, so
    # this ends after at most n_features passes (in practice one or two). The set of
    # unfloored entries cannot become empty: n_features * floor < 1.
    while True:
        k = np.count_nonzero(low)
        c = (1.0 - k * floor) / w[~low].sum()
        scaled = c * w
        new_low = low | (scaled < floor)
        if np.array_equal(new_low, low):
            break
        low = new_low
    return np.where(low, floor, scaled)


def _check_weights(
    weights,
    n_features=None,
    *,
    floor=1e-6,
    renormalize_tol=1e-6,
    warn=True,
    source=None,
    stacklevel=3,
):
    """Implement :func:`check_weights`, with control over messages and warnings.

    Parameters
    ----------
    weights, n_features, floor, renormalize_tol
        As in :func:`check_weights`.
    warn : bool, default=True
        Whether renormalisation emits a :class:`UserWarning`. Estimators pass False:
        they normalise the weights by definition.
    source : str, default=None
        Where the weights come from (e.g. ``"weights file 'w.csv'"``); prefixes
        every message.
    stacklevel : int, default=3
        Passed to :func:`warnings.warn`, so that the warning points at the code that
        called the public function.

    Returns
    -------
    weights : ndarray of shape (n_features,)
        See :func:`check_weights`.
    """
    prefix = _source_prefix(source)
    floor = _check_floor(floor)
    if (
        isinstance(renormalize_tol, bool)
        or not isinstance(renormalize_tol, numbers.Real)
        or not renormalize_tol >= 0
    ):
        raise ValueError(
            f"renormalize_tol must be a real number >= 0, got {renormalize_tol!r}."
        )
    if n_features is not None and (
        isinstance(n_features, bool)
        or not isinstance(n_features, numbers.Integral)
        or n_features < 1
    ):
        raise ValueError(f"n_features must be an integer >= 1, got {n_features!r}.")

    if isinstance(weights, str | bytes | os.PathLike):
        raise TypeError(
            f"{prefix}weights must be an array of numbers, got {weights!r}; to read a "
            "weights file use skaidm.attention.read_weights."
        )
    try:
        # Always a copy: the caller's array (e.g. an estimator parameter) is never
        # modified.
        w = np.array(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{prefix}weights must be an array of real numbers: {exc}"
        ) from exc
    expected = "(n_features,)" if n_features is None else f"({n_features},)"
    if w.ndim == 0:
        w = w.reshape(1)
    elif w.ndim == 2 and 1 in w.shape:
        w = w.ravel()
    elif w.ndim != 1:
        raise ValueError(
            f"{prefix}weights must be one-dimensional with shape {expected} (one "
            f"weight per band), got an array of shape {w.shape}."
        )
    if w.size == 0:
        raise ValueError(f"{prefix}weights are empty; expected shape {expected}.")
    # A single weight is a request for uniform weights; it is broadcast after the
    # value checks so that errors name index 0.
    uniform_request = w.size == 1
    if n_features is not None and not uniform_request and w.size != n_features:
        raise ValueError(
            f"{prefix}weights have {w.size} entries but the data have {n_features} "
            "features (bands); pass one weight per band, in band order."
        )

    bad = ~np.isfinite(w)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{prefix}weights contain {np.count_nonzero(bad)} non-finite value(s) "
            f"(NaN or infinity); the first is at index {first} ({float(w[first])!r})."
        )
    neg = w < 0
    if neg.any():
        first = int(np.flatnonzero(neg)[0])
        raise ValueError(
            f"{prefix}weights contain {np.count_nonzero(neg)} negative value(s); the "
            f"first is at index {first} ({float(w[first])!r}). Band weights must be "
            ">= 0."
        )
    if not w.any():
        raise ValueError(f"{prefix}weights are all zero; at least one must be > 0.")

    if uniform_request:
        w = np.full(1 if n_features is None else n_features, 1.0)
    n = w.size
    if not floor < 1.0 / n:
        raise ValueError(
            f"floor={floor!r} is too large for {n} bands: it must be in "
            f"[0, 1 / n_features) = [0, {1.0 / n!r})."
        )

    total = w.sum()
    if not np.isfinite(total):
        # The sum overflowed: rescale by the largest entry first.
        w = w / w.max()
    if not abs(total - 1.0) <= renormalize_tol:
        w = w / w.sum()
        if warn and not uniform_request:
            warnings.warn(
                f"{prefix}weights summed to {float(total)!r} and were renormalised "
                "to sum to 1.",
                UserWarning,
                stacklevel=stacklevel,
            )
    return _floor_weights(w, floor)


def check_weights(weights, n_features=None, *, floor=1e-6, renormalize_tol=1e-6):
    r"""Validate band weights and return them floored and summing to one.

    The checks run in this order: shape, length, finiteness, sign, all-zero, sum
    (renormalisation), floor.

    Parameters
    ----------
    weights : array-like of shape (n_features,)
        One non-negative weight per band, in band order. A 2-D array with one row or
        one column is accepted and raveled. A single weight (length-1 array or a
        scalar) is a request for uniform weights: it is broadcast to ``n_features``
        entries without any warning.
    n_features : int, default=None
        Number of bands of the data. When given, ``weights`` must have this length
        (or length one).
    floor : float, default=1e-6
        Lower bound of every returned weight, in ``[0, 1 / n_features)``. It is
        applied to the *normalised* weights (after they have been made to sum to
        one), so it is a fraction of the total weight.
    renormalize_tol : float, default=1e-6
        Weights whose sum differs from one by more than this are divided by their
        sum with a :class:`UserWarning`; within the tolerance they are used as given.

    Returns
    -------
    weights : ndarray of shape (n_features,)
        Validated float64 weights, each at least ``floor``, summing to one (up to
        rounding, or ``renormalize_tol`` for input within the tolerance).

    Raises
    ------
    ValueError
        If the shape or length is wrong, a weight is NaN, infinite or negative,
        all weights are zero, or ``floor`` is out of range.

    Notes
    -----
    The floor maps the normalised weights :math:`w` to

    .. math::

        w'_j = \max(f,\ c\, w_j), \qquad \sum_{j=1}^{n} w'_j = 1,

    where :math:`f` is ``floor``, :math:`n` is ``n_features`` and :math:`c \le 1`
    is the scalar that restores the unit sum (it exists and is unique because
    :math:`n f < 1`). This is :math:`w_j \leftarrow \max(w_j, f)` followed by a
    silent renormalisation that keeps the floored weights exactly at :math:`f`
    and the ratios of the other weights unchanged. The function is idempotent:
    its output passes through it unchanged.

    Examples
    --------
    >>> from skaidm.attention import check_weights
    >>> check_weights([0.0, 0.5, 0.5], floor=0.1).tolist()
    [0.1, 0.45, 0.45]
    >>> check_weights([1.0], n_features=4).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    return _check_weights(
        weights,
        n_features,
        floor=floor,
        renormalize_tol=renormalize_tol,
        warn=True,
        stacklevel=3,
    )


# ---------------------------------------------------------------------------
# Reading and writing text files
# ---------------------------------------------------------------------------


def _to_float(cell):
    """Return ``float(cell)`` or None when the cell is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def _read_rows(path, what):
    """Read a small delimited text file into ``[(line_number, cells), ...]``.

    The delimiter is a comma when any data line contains one, otherwise runs of
    whitespace (spaces or tabs). Blank lines and lines starting with ``#`` are
    skipped; line numbers are those of the file (1-based). A UTF-8 byte-order mark,
    as written by spreadsheet programs, is ignored.

    Parameters
    ----------
    path : str or path-like
        File to read.
    what : str
        What the file holds, for messages (e.g. ``"weights"``).

    Returns
    -------
    rows : list of (int, list of str)
        Line number and stripped cells of each data line.
    name : str
        The path as a string, for messages.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, f"{what} file not found: {name!r}", name
        ) from None
    lines = [
        (lineno, line)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ValueError(f"{what} file {name!r} is empty: it has no data lines.")
    use_comma = any("," in line for _, line in lines)
    rows = []
    for lineno, line in lines:
        cells = next(csv.reader([line])) if use_comma else line.split()
        rows.append((lineno, [cell.strip() for cell in cells]))
    return rows, name


def _check_rectangular(rows, name, what):
    """Raise a ValueError naming the first line whose cell count differs."""
    first_lineno, first = rows[0]
    for lineno, cells in rows[1:]:
        if len(cells) != len(first):
            raise ValueError(
                f"{what} file {name!r}, line {lineno}: {len(cells)} cells, but line "
                f"{first_lineno} has {len(first)}; every row must have the same "
                "number of cells (ragged rows)."
            )


def _numbers(cells, lineno, name, what, *, start=0):
    """Convert cells to floats, or raise a ValueError naming the line and cell."""
    values = []
    for j, cell in enumerate(cells, start=start):
        value = _to_float(cell)
        if value is None:
            raise ValueError(
                f"{what} file {name!r}, line {lineno}, column {j + 1}: {cell!r} is "
                "not a number."
            )
        values.append(value)
    return values


def read_weights(path, *, n_features=None, floor=1e-6):
    """Read a global band-weights CSV file.

    The file holds one weight per band, in band order. Accepted layouts:

    - a single column of weights;
    - two columns ``band, weight`` where the first is a band index or a wavelength;
    - three columns ``band, wavelength, weight`` (what :func:`write_weights` writes);
    - a single line of weights (one cell per band, no header).

    The weight is always the last column. A leading band or wavelength column must be
    strictly increasing (the weights are used in band order). An optional header row
    (a first row of which no cell is a number) is skipped. Cells are separated by
    commas or, when no line has a comma, by spaces or tabs. Blank lines and lines
    starting with ``#`` are ignored.

    Parameters
    ----------
    path : str or path-like
        The weights file, e.g. ``band_attention_global.csv``.
    n_features : int, default=None
        Number of bands of the data; when given the file must have that many
        weights (or a single one, meaning uniform weights).
    floor : float, default=1e-6
        Lower bound of the normalised weights; see :func:`check_weights`.

    Returns
    -------
    weights : ndarray of shape (n_features,)
        Validated weights: non-negative, at least ``floor``, summing to one.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, has a non-numeric cell, ragged rows, an unsupported
        number of columns, a band column out of order, or invalid weights (see
        :func:`check_weights`). Messages name the file and the line.

    Warns
    -----
    UserWarning
        If the weights do not sum to one; they are renormalised.

    See Also
    --------
    write_weights : Write a file this function reads back exactly.
    read_class_weights : Per-class mean attention plus class counts.
    check_weights : The validation applied to the weights read.
    """
    what = "weights"
    rows, name = _read_rows(path, what)
    header = None
    if all(_to_float(cell) is None for cell in rows[0][1]):
        header, rows = rows[0], rows[1:]
        if not rows:
            raise ValueError(
                f"{what} file {name!r} has a header (line {header[0]}) but no data."
            )
    _check_rectangular(rows if header is None else [header, *rows], name, what)
    table = np.array([_numbers(cells, lineno, name, what) for lineno, cells in rows])
    n_rows, n_cols = table.shape
    if n_rows == 1 and not (header is not None and n_cols in (2, 3)):
        w = table[0]  # one line: one weight per cell
    elif n_cols == 1:
        w = table[:, 0]
    elif n_cols in (2, 3):
        for j in range(n_cols - 1):
            steps = np.diff(table[:, j])
            if not np.all(steps > 0):
                i = int(np.flatnonzero(~(steps > 0))[0]) + 1
                column = f"column {j + 1}"
                if header is not None:
                    column += f" ({header[1][j]!r})"
                raise ValueError(
                    f"{what} file {name!r}, line {rows[i][0]}: {column} (band index "
                    "or wavelength) is not strictly increasing; list the weights in "
                    "band order."
                )
        w = table[:, -1]
    else:
        raise ValueError(
            f"{what} file {name!r} has {n_rows} rows of {n_cols} columns; expected "
            "one column of weights, two columns (band or wavelength, weight), three "
            "columns (band, wavelength, weight) or a single line of weights. "
            "Per-class attention is read by read_class_weights and per-sample "
            "attention is averaged by weights_from_attention."
        )
    return _check_weights(
        w, n_features, floor=floor, source=f"weights file {name!r}", stacklevel=3
    )


def _read_counts_file(path):
    """Read a ``label, count`` CSV file into a dict {label: count}."""
    what = "class counts"
    rows, name = _read_rows(path, what)
    if _to_float(rows[0][1][-1]) is None:
        rows = rows[1:]  # header
        if not rows:
            raise ValueError(f"{what} file {name!r} has a header but no data.")
    counts = {}
    for lineno, cells in rows:
        if len(cells) != 2:
            raise ValueError(
                f"{what} file {name!r}, line {lineno}: {len(cells)} cells; expected "
                "2 (label, count)."
            )
        label = cells[0]
        if label in counts:
            raise ValueError(
                f"{what} file {name!r}, line {lineno}: duplicate label {label!r}."
            )
        counts[label] = _numbers(cells[1:], lineno, name, what, start=1)[0]
    return counts, name


def _resolve_counts(counts, labels, class_file):
    """Return the class counts aligned with ``labels`` as a float64 array.

    ``counts`` is a mapping {label: count} (keys compared with the labels as
    strings), a sequence aligned with ``labels``, or the path of a ``label, count``
    CSV file.
    """
    source = "counts"
    if isinstance(counts, str | os.PathLike):
        counts, name = _read_counts_file(counts)
        source = f"counts file {name!r}"
    if isinstance(counts, Mapping) or (
        hasattr(counts, "items") and hasattr(counts, "keys")
    ):
        # A dict, or a dict-like such as a pandas Series indexed by label.
        by_label = {}
        for key, value in counts.items():
            if str(key) in by_label:
                raise ValueError(f"{source}: label {str(key)!r} appears twice.")
            by_label[str(key)] = value
        missing = [label for label in labels if label not in by_label]
        if missing:
            raise ValueError(
                f"{source}: no count for {len(missing)} class label(s) of the class "
                f"file {class_file!r}: {missing}. Pass a count for every class (or "
                "balanced=True)."
            )
        extra = sorted(set(by_label) - set(labels))
        if extra:
            warnings.warn(
                f"{source}: labels {extra} are not in the class file {class_file!r} "
                "and were ignored.",
                UserWarning,
                stacklevel=4,
            )
        values = [by_label[label] for label in labels]
    else:
        values = counts
    try:
        n = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source} must be numbers: {exc}") from exc
    if n.ndim != 1 or n.size != len(labels):
        raise ValueError(
            f"{source}: got {n.size} count(s) with shape {n.shape} for {len(labels)} "
            f"classes in {class_file!r}; pass one count per class, in the row order "
            "of the class file, or a mapping {label: count}."
        )
    for label, value in zip(labels, n, strict=True):
        if not np.isfinite(value) or value < 0 or value != np.round(value):
            raise ValueError(
                f"{source}: the count of class {label!r} is {float(value)!r}; counts "
                "must be non-negative integers (numbers of samples)."
            )
    if n.sum() == 0:
        raise ValueError(f"{source}: the class counts sum to zero.")
    return n


def read_class_weights(
    path, counts=None, *, balanced=False, n_features=None, floor=1e-6
):
    r"""Read per-class mean attention and combine it into global band weights.

    The file (e.g. ``band_attention_by_class.csv``) has one row per class: the class
    label (any string), then the class's mean attention, one value per band. An
    optional header row is skipped; the first row is a header when one of its value
    cells is not a number, or its first cell is empty or one of ``class``,
    ``classes``, ``label``, ``labels``, ``class_label``, ``class_name``, ``target``
    (case-insensitive). Cells are separated by commas or, when no line has a comma,
    by whitespace.

    Parameters
    ----------
    path : str or path-like
        The per-class attention file.
    counts : mapping, sequence or path, default=None
        Number of training samples of each class: a mapping ``{label: count}``
        (keys compared with the file's labels as strings; labels absent from the
        file are ignored with a warning), a sequence aligned with the rows of the
        file, or the path of a ``label, count`` CSV file (optional header).
        Required unless ``balanced=True``, and ignored then.
    balanced : bool, default=False
        If True, every class counts equally (class-balanced mean).
    n_features : int, default=None
        Number of bands of the data; when given the file must have that many
        value columns.
    floor : float, default=1e-6
        Lower bound of the normalised weights; see :func:`check_weights`.

    Returns
    -------
    weights : ndarray of shape (n_features,)
        Validated weights: non-negative, at least ``floor``, summing to one.

    Raises
    ------
    FileNotFoundError
        If the class file or the counts file does not exist.
    ValueError
        On a malformed file (non-numeric value, ragged rows, duplicate or empty
        label), negative or non-finite attention, missing ``counts`` with
        ``balanced=False``, a class without a count, negative or non-integer counts,
        or counts summing to zero. File errors name the file and the line.

    Warns
    -----
    UserWarning
        If the combined weights do not sum to one (they are renormalised), or
        ``counts`` has labels that are not in the file.

    See Also
    --------
    weights_from_attention : The same average from raw per-sample attention.
    read_weights : A global weights file.

    Notes
    -----
    The global weights are the sample average of the per-sample attention vectors
    :math:`a_i`, which the per-class means :math:`A_c` give exactly:

    .. math::

        w = \frac{1}{N} \sum_{i=1}^{N} a_i = \sum_{c=1}^{C} \frac{n_c}{N} A_c,
        \qquad N = \sum_{c=1}^{C} n_c,

    where :math:`n_c` is the number of samples of class :math:`c`. With
    ``balanced=True`` the weights are :math:`w = \frac{1}{C} \sum_c A_c`. The
    result is then floored and normalised by :func:`check_weights`.
    """
    what = "class attention"
    if not balanced and counts is None:
        raise ValueError(
            "read_class_weights needs the class counts to weight each class by its "
            "number of samples: pass counts (a mapping {label: count}, a sequence "
            "or a 'label,count' CSV path), or balanced=True for the class-balanced "
            "mean."
        )
    rows, name = _read_rows(path, what)
    first = rows[0][1]
    if first[0].lower() in _CLASS_HEADER_WORDS or any(
        _to_float(cell) is None for cell in first[1:]
    ):
        header, rows = rows[0], rows[1:]
        if not rows:
            raise ValueError(
                f"{what} file {name!r} has a header (line {header[0]}) but no data."
            )
        _check_rectangular([header, *rows], name, what)
    else:
        _check_rectangular(rows, name, what)
    if len(rows[0][1]) < 2:
        raise ValueError(
            f"{what} file {name!r} has a single column; expected the class label "
            "followed by one value per band."
        )
    labels, values, seen = [], [], {}
    for lineno, cells in rows:
        label = cells[0]
        if not label:
            raise ValueError(f"{what} file {name!r}, line {lineno}: empty class label.")
        if label in seen:
            raise ValueError(
                f"{what} file {name!r}, line {lineno}: class {label!r} already "
                f"appears on line {seen[label]}."
            )
        seen[label] = lineno
        row = np.array(_numbers(cells[1:], lineno, name, what, start=1))
        bad = ~np.isfinite(row) | (row < 0)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{what} file {name!r}, line {lineno}: class {label!r} has "
                f"{np.count_nonzero(bad)} negative or non-finite value(s); the first "
                f"is {float(row[j])!r} at band index {j}."
            )
        labels.append(label)
        values.append(row)
    A = np.vstack(values)
    if balanced:
        w = A.mean(axis=0)
    else:
        n = _resolve_counts(counts, labels, name)
        w = (n / n.sum()) @ A
    return _check_weights(
        w,
        n_features,
        floor=floor,
        source=f"class attention file {name!r}",
        stacklevel=3,
    )


def write_weights(path, weights, wavelengths=None, *, floor=1e-6):
    """Write band weights to a CSV file that :func:`read_weights` reads back exactly.

    The file has a header and one row per band: ``band,wavelength_nm,weight``, or
    ``band,weight`` without wavelengths. Bands are numbered from 1, as in the EMIT
    band tables. Numbers are written with the shortest representation that reads
    back as the same float64 (``repr``). The file is written to a temporary file in
    the same directory and then renamed over ``path``, so an interrupted write never
    leaves a partial file.

    Parameters
    ----------
    path : str or path-like
        Destination file; replaced if it exists.
    weights : array-like of shape (n_features,)
        Band weights. They are validated with :func:`check_weights` (with ``floor``)
        before writing, so ``read_weights(path, floor=floor)`` returns exactly
        ``check_weights(weights, floor=floor)``.
    wavelengths : array-like of shape (n_features,), default=None
        Band centre wavelengths in nanometres, strictly increasing.
    floor : float, default=1e-6
        Floor passed to :func:`check_weights`.

    Returns
    -------
    weights : ndarray of shape (n_features,)
        The validated weights that were written.

    See Also
    --------
    read_weights : Read the file back.
    """
    w = _check_weights(weights, floor=floor, stacklevel=3)
    columns = [np.arange(1, w.size + 1)]
    header = ["band"]
    if wavelengths is not None:
        wl = check_array(
            wavelengths, ensure_2d=False, dtype=np.float64, input_name="wavelengths"
        )
        if wl.ndim != 1 or wl.size != w.size:
            raise ValueError(
                f"wavelengths have shape {wl.shape} but there are {w.size} weights; "
                "pass one wavelength per band."
            )
        if not np.all(np.diff(wl) > 0):
            raise ValueError("wavelengths must be strictly increasing (band order).")
        columns.append(wl)
        header.append("wavelength_nm")
    columns.append(w)
    header.append("weight")
    lines = [",".join(header)]
    for row in zip(*columns, strict=True):
        lines.append(",".join([str(int(row[0]))] + [repr(float(v)) for v in row[1:]]))
    text = "\n".join(lines) + "\n"

    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return w


# ---------------------------------------------------------------------------
# Weights from arrays
# ---------------------------------------------------------------------------


def weights_from_attention(attention, y=None, *, balanced=False, floor=1e-6):
    r"""Average per-sample attention vectors into global band weights.

    Parameters
    ----------
    attention : array-like of shape (n_samples, n_features)
        One non-negative attention vector per sample, e.g. the attention of the
        classification token over the band tokens (averaged over heads and layers
        as the model's authors recommend).
    y : array-like of shape (n_samples,), default=None
        Class labels, used only with ``balanced=True``.
    balanced : bool, default=False
        If True, average the per-class mean attention so that every class counts
        equally; requires ``y``.
    floor : float, default=1e-6
        Lower bound of the normalised weights; see :func:`check_weights`.

    Returns
    -------
    weights : ndarray of shape (n_features,)
        Validated weights: non-negative, at least ``floor``, summing to one.

    Raises
    ------
    ValueError
        If ``attention`` is not 2-D, has NaN, infinite or negative entries, ``y``
        has the wrong length, or ``balanced=True`` without ``y``.

    Warns
    -----
    UserWarning
        If the average does not sum to one; it is renormalised.

    See Also
    --------
    read_class_weights : The same average from per-class means and class counts.

    Notes
    -----
    .. math::

        w = \frac{1}{N} \sum_{i=1}^{N} a_i
        \quad\text{or, with } \texttt{balanced=True}, \quad
        w = \frac{1}{C} \sum_{c=1}^{C} \frac{1}{n_c} \sum_{i : y_i = c} a_i,

    where :math:`a_i` is the attention of sample :math:`i`, :math:`C` the number of
    classes and :math:`n_c` the number of samples of class :math:`c`. The result is
    then floored and normalised by :func:`check_weights`.

    Examples
    --------
    >>> from skaidm.attention import weights_from_attention
    >>> a = [[0.2, 0.8], [0.6, 0.4], [0.4, 0.6]]
    >>> weights_from_attention(a).round(4).tolist()
    [0.4, 0.6]
    >>> weights_from_attention(a, y=[0, 1, 1], balanced=True).round(4).tolist()
    [0.35, 0.65]
    """
    if balanced and y is None:
        raise ValueError(
            "balanced=True needs the class labels y of the attention rows."
        )
    A = np.asarray(attention)
    if A.ndim != 2:
        raise ValueError(
            "attention must be a 2-D array of shape (n_samples, n_features), one "
            f"attention vector per sample; got shape {A.shape}. For a single global "
            "vector use check_weights."
        )
    A = check_array(
        A, dtype=np.float64, ensure_all_finite=False, input_name="attention"
    )
    bad = ~np.isfinite(A)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"attention contains {np.count_nonzero(bad)} non-finite value(s) (NaN or "
            f"infinity); the first is at row {i}, band index {j}."
        )
    neg = A < 0
    if neg.any():
        i, j = np.argwhere(neg)[0]
        raise ValueError(
            f"attention contains {np.count_nonzero(neg)} negative value(s); the first "
            f"is {float(A[i, j])!r} at row {i}, band index {j}."
        )
    if balanced:
        y = column_or_1d(y, warn=True)
        if y.shape[0] != A.shape[0]:
            raise ValueError(
                f"y has {y.shape[0]} labels but attention has {A.shape[0]} rows "
                "(samples); pass one label per attention row."
            )
        classes, inverse = np.unique(y, return_inverse=True)
        w = np.mean([A[inverse == k].mean(axis=0) for k in range(classes.size)], axis=0)
    else:
        if y is not None:
            y = column_or_1d(y, warn=True)
            if y.shape[0] != A.shape[0]:
                raise ValueError(
                    f"y has {y.shape[0]} labels but attention has {A.shape[0]} rows "
                    "(samples); pass one label per attention row."
                )
        w = A.mean(axis=0)
    return _check_weights(w, floor=floor, source="averaged attention", stacklevel=3)


def band_importance(X, y, *, n_neighbors=3, random_state=None, floor=1e-6, n_jobs=None):
    """Data-driven band weights from mutual information; this is NOT attention.

    A supervised per-band relevance score, used when no Transformer attention is
    available: the mutual information between each band and the class labels,
    normalised to sum to one. It says how much each band alone tells about the
    label; it is not what a Transformer attends to, and outputs built on it must not
    be called attention-informed.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Spectra, one band per column.
    y : array-like of shape (n_samples,)
        Class labels.
    n_neighbors : int, default=3
        Number of neighbours of the k-nearest-neighbour mutual-information
        estimator [1]_, [2]_; see
        :func:`sklearn.feature_selection.mutual_info_classif`.
    random_state : int, RandomState instance or None, default=None
        Seeds the small noise the estimator adds to break ties; pass an int for
        reproducible weights.
    floor : float, default=1e-6
        Lower bound of the normalised weights; see :func:`check_weights`.
    n_jobs : int, default=None
        Number of jobs computing the bands' mutual information in parallel.

    Returns
    -------
    weights : ndarray of shape (n_features,)
        Non-negative weights, at least ``floor``, summing to one.

    Warns
    -----
    UserWarning
        If every band has zero estimated mutual information with the labels (at
        most 1e-12 nats, the round-off level of the estimator; e.g. a single class
        or labels unrelated to the spectra): uniform weights are returned.

    See Also
    --------
    sklearn.feature_selection.mutual_info_classif : The score used.
    read_weights : Weights from a Transformer's attention, when available.

    References
    ----------
    .. [1] Kraskov, A., Stögbauer, H. and Grassberger, P. (2004). Estimating mutual
       information. Phys. Rev. E 69, 066138. https://doi.org/10.1103/PhysRevE.69.066138
    .. [2] Ross, B. C. (2014). Mutual information between discrete and continuous
       data sets. PLoS ONE 9(2), e87357. https://doi.org/10.1371/journal.pone.0087357

    Examples
    --------
    >>> import numpy as np
    >>> from skaidm.attention import band_importance
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, size=200)
    >>> X = rng.normal(size=(200, 5))
    >>> X[:, 2] += 3 * y  # only band 2 depends on the label
    >>> w = band_importance(X, y, random_state=0)
    >>> int(np.argmax(w)), round(float(w.sum()), 6)
    (2, 1.0)
    """
    X, y = check_X_y(X, y, dtype=np.float64)
    mi = mutual_info_classif(
        X,
        y,
        discrete_features=False,
        n_neighbors=n_neighbors,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    if not np.any(mi > _MI_ZERO_TOL):
        warnings.warn(
            "the estimated mutual information between every band and the labels is "
            f"zero (at most {float(mi.max())!r} nats; e.g. labels unrelated to the "
            "spectra or a single class); band_importance returns uniform weights.",
            UserWarning,
            stacklevel=2,
        )
        mi = np.ones(X.shape[1])
    return _check_weights(mi / mi.sum(), floor=floor, warn=False)


# ---------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------


class AttentionPreconditioner(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    r"""Scale each band by a power of its attention weight.

    Multiplies band :math:`j` by :math:`w_j^{\alpha/2}`, where :math:`w` are band
    weights (normalised to mean one) from a Transformer's attention, so that a
    Euclidean distance on the output is the attention-weighted distance
    :math:`\sum_j w_j^\alpha (x_j - x'_j)^2` on the input. ``inverse_transform``
    divides by the same factors. This is the "Option A" preconditioning of
    attention-informed diffusion maps; see the Notes for when it has any effect.

    Parameters
    ----------
    weights : array-like of shape (n_features,) or (1,), default=None
        Non-negative band weights, in band order, e.g. from :func:`read_weights`.
        They are validated by :func:`check_weights` at fit (without its
        renormalisation warning: the estimator normalises them by definition).
        ``None`` means uniform weights (the identity); a single weight broadcasts to
        every band (also uniform). Otherwise the length must equal the number of
        features seen at fit.
    alpha : float, default=1.0
        Exponent, a real number ``>= 0``: the output is :math:`x_j w_j^{\alpha/2}`.
        Typical values are 0.5 to 1; ``alpha=0`` gives the identity.
    floor : float, default=1e-6
        Lower bound of the normalised weights (summing to one), in
        ``[0, 1 / n_features)``; see :func:`check_weights`. A positive floor keeps
        every scale factor positive, hence the transform invertible.

    Attributes
    ----------
    weights_ : ndarray of shape (n_features_in_,)
        Validated weights normalised to mean one (``n_features_in_`` times the
        weights summing to one). Uniform weights give exactly ones.
    scale_ : ndarray of shape (n_features_in_,)
        Factors applied by ``transform``: ``weights_ ** (alpha / 2)``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    check_weights : Validation of the weights.
    read_weights : Read weights from a file.
    band_importance : Data-driven weights (mutual information, not attention).
    sklearn.preprocessing.RobustScaler : The scaling applied before this step.

    Notes
    -----
    With :math:`w` the validated weights (non-negative, floored, summing to one) of
    :math:`n` bands, the fitted weights and the transform are

    .. math::

        \bar w_j = n\, w_j, \qquad
        x_j \mapsto s_j\, x_j, \qquad s_j = \bar w_j^{\,\alpha/2},

    so that :math:`\|s \odot (x - x')\|^2 = \sum_j \bar w_j^{\,\alpha}
    (x_j - x'_j)^2`. A global factor of the weights never matters downstream: it
    cancels under whitening and in the trace-normalised kernel metric of the
    sampler. The mean-one normalisation :math:`\frac{1}{n}\sum_j \bar w_j = 1` is
    chosen so that uniform weights (and ``alpha=0``) are exactly the identity, and
    the output keeps the units of the input.

    **The whitening trap.** Preconditioning followed by a whitening that keeps *all*
    principal components cancels exactly: whitening is affine-invariant, so the
    whitened data of the preconditioned and of the plain spectra differ by an
    orthogonal rotation, and the kernel, the diffusion basis and the generated
    spectra are those of plain PLoM. Attention preconditioning therefore matters
    only with a *truncating* whitening (fewer components than the numerical rank).
    Otherwise put the attention into the kernel metric instead ("Option B": the
    sampler's ``kernel_attention`` parameter takes this estimator).

    Examples
    --------
    >>> import numpy as np
    >>> from skaidm.attention import AttentionPreconditioner
    >>> X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> pre = AttentionPreconditioner(weights=[0.5, 0.25, 0.25], alpha=1.0).fit(X)
    >>> pre.weights_.tolist()
    [1.5, 0.75, 0.75]
    >>> pre.transform(X).shape
    (2, 3)
    >>> round(float(pre.transform(X)[0, 0]), 4)
    1.2247
    >>> bool(np.allclose(pre.inverse_transform(pre.transform(X)), X))
    True
    """

    def __init__(self, weights=None, alpha=1.0, floor=1e-6):
        self.weights = weights
        self.alpha = alpha
        self.floor = floor

    def fit(self, X, y=None):
        """Validate the weights against the data and compute the scale factors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra; only the number of bands (and their names) is used.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        alpha = self.alpha
        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, numbers.Real)
            or not np.isfinite(alpha)
            or alpha < 0
        ):
            raise ValueError(
                f"alpha must be a finite real number >= 0, got {alpha!r}; typical "
                "values are 0.5 to 1 and alpha=0 is the identity."
            )
        floor = _check_floor(self.floor)
        X = validate_data(self, X, dtype=np.float64)
        n = self.n_features_in_
        # None is a request for uniform weights, like a single weight; going through
        # the same validation also checks floor < 1 / n_features.
        raw = 1.0 if self.weights is None else self.weights
        w = _check_weights(raw, n, floor=floor, warn=False)
        # Uniform weights give exact ones, so that the transform is the identity
        # (n * (1 / n) is not always 1 in floating point).
        weights = np.ones(n) if np.all(w == w[0]) else w * (n / w.sum())
        scale = weights ** (alpha / 2)
        with np.errstate(divide="ignore", over="ignore"):
            invertible = np.isfinite(scale) & (scale > 0) & np.isfinite(1.0 / scale)
        if not invertible.all():
            j = int(np.flatnonzero(~invertible)[0])
            n_bad = np.count_nonzero(~invertible)
            raise ValueError(
                f"alpha={alpha!r} with floor={floor!r} gives {n_bad} "
                f"band(s) a scale factor of {float(scale[j])!r} (first at index {j}); "
                "the transform would not be invertible. Use a positive floor or a "
                "smaller alpha."
            )
        self.weights_ = weights
        self.scale_ = scale
        return self

    def transform(self, X):
        """Multiply each band by its scale factor.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            ``X * scale_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X * self.scale_

    def inverse_transform(self, X):
        """Divide each band by its scale factor.

        Exact up to one rounding per entry: ``inverse_transform(transform(X))``
        equals ``X`` to a relative error of at most two units in the last place.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Preconditioned spectra.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            ``X / scale_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X / self.scale_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


# ---------------------------------------------------------------------------
# Attention and whitening
# ---------------------------------------------------------------------------

# Discarded variance, as a fraction of the trace, below which a whitening counts as
# full rank: the preconditioning it follows is then cancelled up to this order.
FULL_RANK_TRUNCATION = 1e-8


class AttentionCancelledWarning(UserWarning):
    """Attention preconditioning followed by a full-rank whitening has no effect."""


def _is_uniform(preconditioner):
    scale = preconditioner.scale_
    return bool(np.all(scale == scale[0]))


def check_attention_whitening(preconditioner, whitening, *, stacklevel=2):
    """Warn when a whitening cancels the attention preconditioning before it.

    Whitening is affine-invariant: when it keeps every principal component, the
    whitened preconditioned spectra are an orthogonal rotation of the whitened plain
    spectra, so the kernel, the diffusion basis and the generated spectra are those
    of plain PLoM and the attention has no effect (PLOM_SPEC F12). This warns with an
    :class:`AttentionCancelledWarning` when ``preconditioner`` has non-uniform
    weights and ``whitening`` discarded less than 1e-8 of the total variance.

    Parameters
    ----------
    preconditioner : AttentionPreconditioner
        Fitted preconditioner, applied before the whitening.
    whitening : WhiteningPCA
        Fitted whitening of the preconditioned data.
    stacklevel : int, default=2
        Passed to :func:`warnings.warn`; functions that call this one on behalf of
        a user add their own frames so the warning points at the user's line.

    Returns
    -------
    cancelled : bool
        True when the preconditioning is cancelled (and a warning was emitted).
    """
    check_is_fitted(preconditioner)
    check_is_fitted(whitening)
    if _is_uniform(preconditioner):
        return False
    if whitening.truncation_error_ >= FULL_RANK_TRUNCATION:
        return False
    warnings.warn(
        "Attention preconditioning is followed by a whitening that keeps "
        f"{whitening.n_components_} of {whitening.rank_} principal components "
        f"(discarded variance {whitening.truncation_error_:.1e} of the total): "
        "whitening is affine-invariant, so the attention weights cancel and the model "
        "is plain PLoM. Truncate the whitening (n_components as a variance fraction "
        "such as 0.9999) or put the attention into the kernel metric instead "
        "(Option B).",
        AttentionCancelledWarning,
        stacklevel=stacklevel,
    )
    return True


def kernel_metric_factor(whitening, preconditioner=None):
    r"""Factor of the attention metric in whitened coordinates (Option B).

    For whitened coordinates :math:`\eta = \Lambda^{-1/2}\Phi^T(\tilde x -
    \bar x)`, returns :math:`R = c\, S\,\Phi\,\Lambda^{1/2}` so that

    .. math::

        \|R(\eta - \eta')\|^2 = c^2\, \|S(\tilde x_r - \tilde x'_r)\|^2,
        \qquad \mathrm{tr}(R^T R) = r,

    where :math:`\tilde x_r` is the rank-:math:`r` reconstruction of the
    (robust-scaled) spectrum, :math:`S = \mathrm{diag}(w^{\alpha/2})` the
    preconditioner's scaling and :math:`c` the constant that makes the trace of the
    metric :math:`M_\eta = R^T R` equal to :math:`r`, the trace of the isotropic
    whitened metric. With that normalisation a bandwidth means the same thing for
    every ``alpha`` and every weight vector, and uniform weights (or ``alpha = 0``)
    give a metric with the same trace as plain PLoM's. Passing ``R`` as the
    ``metric`` of :class:`~skaidm.AnisotropicDiffusionMap` puts the attention into
    the kernel without touching the data, and no ill-conditioned :math:`M_\eta` is
    ever factorised.

    Parameters
    ----------
    whitening : WhiteningPCA
        Fitted whitening.
    preconditioner : AttentionPreconditioner, default=None
        Fitted on the same input as ``whitening``; ``None`` means uniform weights.
        Bands that are constant at fit (not whitened) are skipped.

    Returns
    -------
    R : ndarray of shape (n_variable_features, n_components)
        Rows: variable bands; columns: whitened coordinates.
    """
    check_is_fitted(whitening)
    factor = whitening.components_.T * np.sqrt(whitening.explained_variance_)
    if preconditioner is not None:
        check_is_fitted(preconditioner)
        if preconditioner.n_features_in_ != whitening.n_features_in_:
            raise ValueError(
                f"preconditioner was fitted on {preconditioner.n_features_in_} "
                f"features but whitening on {whitening.n_features_in_}; fit both on "
                "the same spectra."
            )
        scale = preconditioner.scale_[~whitening.constant_features_]
        factor = scale[:, None] * factor
    trace = np.einsum("ij,ij->", factor, factor)
    return factor * np.sqrt(whitening.n_components_ / trace)
