"""The ``skaidm`` command: generate synthetic spectra and build band-weights files.

``skaidm generate`` fits the AIDM pipeline (built-in USGS spectra or ``--input``)
and writes synthetic spectra to a CSV file; ``skaidm weights`` writes a global
band-weights CSV file. User mistakes end with one ``skaidm: error: ...`` line on
stderr and exit code 2; outputs are written atomically (temp file + rename).
"""

import argparse
import csv
import io
import os
import sys
import time
import warnings

import numpy as np

from . import __version__
from ._io import atomic_write

PROG = "skaidm"
EXIT_USAGE = 2
LABEL_COLUMN = "label"


class _Progress:
    """Stage lines on stderr, silenced by ``--quiet``."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message):
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"{PROG}: [{elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Print warnings as one ``skaidm: warning:`` line each, without source lines."""
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _write_spectra(path, X, header):
    """Write spectra as CSV: the header, then one row per spectrum (exact floats)."""

    def write(f):
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        for row in X:
            writer.writerow([repr(float(v)) for v in row])
        text.flush()
        text.detach()

    atomic_write(path, write)


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_table(path, what):
    """Read a CSV of spectra with a header row and an optional ``label`` column.

    Returns ``(X, labels, header)``: the numbers, the labels (None without a label
    column) and the header of the value columns. Raises FileNotFoundError or a
    ValueError naming the file, line and column of the first problem.
    """
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
    (_, header), data = rows[0], rows[1:]
    has_label = header[0].lower() == LABEL_COLUMN
    start = 1 if has_label else 0
    if len(header) - start < 1:
        raise ValueError(f"{what} file {name!r}: the header has no value columns.")
    labels, values = [], []
    for lineno, cells in data:
        if len(cells) != len(header):
            raise ValueError(
                f"{what} file {name!r}, line {lineno}: {len(cells)} columns, but the "
                f"header has {len(header)}; every row must have the same number of "
                "columns."
            )
        row = []
        for j in range(start, len(cells)):
            try:
                row.append(float(cells[j]))
            except ValueError:
                hint = (
                    " (only a first column named 'label' may hold text)"
                    if j == 0
                    else ""
                )
                raise ValueError(
                    f"{what} file {name!r}, line {lineno}, column {j + 1}: "
                    f"{cells[j]!r} is not a number{hint}."
                ) from None
        if not np.all(np.isfinite(row)):
            j = start + int(np.flatnonzero(~np.isfinite(row))[0])
            raise ValueError(
                f"{what} file {name!r}, line {lineno}, column {j + 1}: "
                f"{cells[j]!r} is not a finite number."
            )
        values.append(row)
        if has_label:
            labels.append(cells[0])
    X = np.asarray(values, dtype=np.float64)
    return X, (np.asarray(labels) if has_label else None), header[start:]


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


def _load_data(args, progress):
    """``(X, y, header, wavelengths, source)`` from ``--input`` or the built-in set."""
    if args.input is not None:
        progress(f"loading {args.input!r}")
        X, y, header = _read_table(args.input, "input")
        source = repr(args.input)
        wavelengths = _wavelengths_from_header(header)
    else:
        from .datasets import load_usgs_minerals

        progress("loading the built-in USGS splib07a mineral spectra")
        data = load_usgs_minerals()
        X, y = np.asarray(data.data), np.asarray(data.target)
        header = [str(name) for name in data.feature_names]
        source = "built-in USGS library"
        wavelengths = np.asarray(data.wavelengths)
    progress(f"{X.shape[0]} spectra x {X.shape[1]} bands from {source}")
    return X, y, header, wavelengths, source


def _fallback_weights(X, y, args, progress):
    from .attention import band_importance

    n_jobs = -1 if args.n_jobs is None else args.n_jobs
    progress("computing band weights with band_importance")
    w = band_importance(X, y, random_state=0, n_jobs=n_jobs)
    print(
        f"{PROG}: band weights are the data-driven fallback "
        "(skaidm.attention.band_importance, mutual information with the labels), "
        "NOT Transformer attention",
        file=sys.stderr,
        flush=True,
    )
    return w


def _load_model(path):
    import joblib

    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"model file not found: {name!r}")
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
    return model


def _default_header(n_features):
    from .datasets import load_usgs_minerals

    data = load_usgs_minerals()
    if len(data.feature_names) == n_features:
        return [str(name) for name in data.feature_names]
    return [f"band_{j + 1}" for j in range(n_features)]


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------


def _check_output_dir(path, option):
    """Fail before the slow work when the directory of an output does not exist."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"{option}: directory {directory!r} of {os.fspath(path)!r} does not exist."
        )


def _parse_epsilon(value):
    try:
        return float(value)
    except ValueError:
        return value


def _generate(args):
    import joblib
    from sklearn.utils.validation import check_is_fitted

    from .attention import read_weights
    from .pipeline import make_aidm_pipeline, sample

    progress = _Progress(args.quiet)
    if args.n_samples < 1:
        raise ValueError(f"--n-samples must be >= 1, got {args.n_samples}.")
    _check_output_dir(args.output, "--output")
    if args.save_model is not None:
        _check_output_dir(args.save_model, "--save-model")
    if args.model is not None:
        progress(f"loading model {args.model!r}")
        pipe = _load_model(args.model)
        try:
            check_is_fitted(pipe.steps[-1][1])
        except Exception:
            raise ValueError(f"model file {args.model!r} is not fitted.") from None
        header = getattr(pipe, "skaidm_feature_names_", None)
        if header is None:
            header = _default_header(pipe.steps[-1][1].n_features_in_)
    else:
        bounds = None if args.no_bounds else tuple(args.bounds)
        X, y, header, _, _ = _load_data(args, progress)
        if args.weights is not None:
            progress(f"reading band weights {args.weights!r}")
            weights = read_weights(args.weights, n_features=X.shape[1])
        elif args.variant == "none":
            weights = None
        elif y is not None:
            weights = _fallback_weights(X, y, args, progress)
        else:
            weights = None
            progress("no label column: uniform band weights")
        progress(
            f"fitting make_aidm_pipeline (variant={args.variant}, alpha={args.alpha:g}"
            f", bounds={bounds})"
        )
        pipe = make_aidm_pipeline(
            weights,
            alpha=args.alpha,
            variant=args.variant,
            bounds=bounds,
            epsilon=args.epsilon,
            n_jobs=args.n_jobs,
            random_state=args.seed,
        ).fit(X)
        pipe.skaidm_feature_names_ = list(header)
        if args.save_model is not None:
            progress(f"saving the fitted pipeline to {args.save_model!r}")
            atomic_write(args.save_model, lambda f: joblib.dump(pipe, f))
    progress(f"sampling {args.n_samples} spectra")
    X_new = sample(pipe, args.n_samples, random_state=args.seed)
    progress(f"writing {X_new.shape[0]} x {X_new.shape[1]} spectra to {args.output!r}")
    _write_spectra(args.output, X_new, header)
    progress("done")
    return 0


def _weights(args):
    from .attention import read_class_weights, weights_from_attention, write_weights

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
        w = read_class_weights(
            args.from_class,
            counts=None if args.balanced else args.class_counts,
            balanced=args.balanced,
        )
    elif args.from_attention is not None:
        progress(f"reading per-sample attention {args.from_attention!r}")
        A, y, header = _read_table(args.from_attention, "attention")
        wavelengths = _wavelengths_from_header(header)
        if args.labels is not None:
            y = _read_labels(args.labels, A.shape[0])
        w = weights_from_attention(A, y, balanced=y is not None)
    else:
        X, y, _, wavelengths, source = _load_data(args, progress)
        if y is None:
            raise ValueError(
                f"--fallback needs class labels: the first column of {source} must "
                f"be named '{LABEL_COLUMN}'."
            )
        w = _fallback_weights(X, y, args, progress)
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


def _build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Realistic synthetic spectra with PLoM and band-weighted "
        "diffusion maps.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--input",
        metavar="FILE",
        help="CSV of spectra with a header row (band names); an optional first "
        "column named 'label' holds class labels (default: the built-in USGS "
        "mineral library)",
    )
    common.add_argument(
        "--n-jobs", type=int, default=None, metavar="N", help="parallel jobs"
    )
    common.add_argument("--quiet", action="store_true", help="no progress lines")

    gen = sub.add_parser(
        "generate",
        parents=[common],
        help="fit the AIDM pipeline and write synthetic spectra",
        description="Fit make_aidm_pipeline on spectra and write synthetic spectra "
        "to a CSV file (header = band names, one spectrum per row).",
    )
    gen.add_argument(
        "-o",
        "--output",
        default="skaidm_synthetic.csv",
        metavar="FILE",
        help="output CSV (default: skaidm_synthetic.csv)",
    )
    gen.add_argument(
        "--weights",
        metavar="FILE",
        help="global band-weights CSV (default: band_importance on the labels, a "
        "data-driven fallback, not attention)",
    )
    gen.add_argument(
        "--variant", choices=["none", "A", "B"], default="B", help="(default: B)"
    )
    gen.add_argument(
        "--alpha", type=float, default=1.0, help="weights exponent (default: 1)"
    )
    gen.add_argument(
        "--epsilon",
        type=_parse_epsilon,
        default="auto",
        help="kernel bandwidth: a number or a rule (auto, gap, knn; default: auto)",
    )
    bounds = gen.add_mutually_exclusive_group()
    bounds.add_argument(
        "--bounds",
        nargs=2,
        type=float,
        default=[0.0, 1.5],
        metavar=("LOW", "HIGH"),
        help="open interval of the data and the output (default: 0 1.5)",
    )
    bounds.add_argument("--no-bounds", action="store_true", help="no bounds step")
    gen.add_argument(
        "--n-samples",
        type=int,
        default=1000,
        metavar="N",
        help="number of spectra (default: 1000)",
    )
    gen.add_argument(
        "--seed", type=int, default=0, help="random seed (fit and sample; default: 0)"
    )
    gen.add_argument(
        "--save-model", metavar="FILE", help="save the fitted pipeline (joblib)"
    )
    gen.add_argument(
        "--model",
        metavar="FILE",
        help="load a saved pipeline instead of fitting, then sample",
    )
    gen.set_defaults(func=_generate)

    wts = sub.add_parser(
        "weights",
        parents=[common],
        help="write a global band-weights CSV",
        description="Build global band weights and write them as "
        "band,wavelength_nm,weight CSV.",
    )
    wts.add_argument("-o", "--output", required=True, metavar="FILE")
    how = wts.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--from-class", metavar="FILE", help="per-class mean attention CSV"
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
        "--class-counts", metavar="FILE", help="label,count CSV for --from-class"
    )
    wts.add_argument(
        "--balanced",
        action="store_true",
        help="every class counts equally (--from-class)",
    )
    wts.add_argument(
        "--labels",
        metavar="FILE",
        help="one label per attention row (class-balanced mean)",
    )
    wts.set_defaults(func=_weights)
    return parser


def main(argv=None):
    """Run the ``skaidm`` command; returns the exit code."""
    args = _build_parser().parse_args(argv)
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return args.func(args)
    except (ValueError, OSError) as error:  # FileNotFoundError is an OSError
        message = " ".join(str(error).split())
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":
    sys.exit(main())
