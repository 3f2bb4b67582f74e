"""Does class-conditional augmentation help a classifier? Writes docs/augmentation.md.

Run from the repository root::

    python benchmarks/augmentation.py        # about 11 minutes on 2 cores

Data: the built-in USGS library restricted to the mineral labels with at least two
physical samples (``groups``). Protocol: ``StratifiedGroupKFold`` by physical
sample, 5 folds x 2 repeats (different shuffles). On each training fold an
augmenter brings every class with at least ``MIN_CLASS_SIZE`` training rows to the
majority's count (imbalanced-learn's ``"not majority"``); a logistic regression on
standardized spectra is trained on the real + synthetic rows and scored on the
untouched test fold (macro-F1 and rare-class recall). Augmenters: none, SMOTE,
per-class GaussianMixture and KernelDensity (in each class's robust-scaled and
whitened space), and skaidm's ClassConditionalSampler with and without bounds.
"""

import argparse
import datetime
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler
from threadpoolctl import threadpool_limits

import skaidm

sys.path.insert(0, str(Path(__file__).parent))
from validate import machine

ROOT = Path(__file__).resolve().parent.parent
N_FOLDS = 5
N_REPEATS = 2
MIN_CLASS_SIZE = 3  # same minimum for every augmenter (ClassConditionalSampler's)
RARE_MAX = 4  # a class is rare in a fold when it has <= 4 training rows there
WHITENING = 0.99999
METHODS = (
    "none",
    "SMOTE",
    "GaussianMixture",
    "KernelDensity",
    "skaidm bounded",
    "skaidm default",
)
LABELS = {
    "none": "no augmentation",
    "SMOTE": "SMOTE",
    "GaussianMixture": "GaussianMixture (per class)",
    "KernelDensity": "KernelDensity (per class)",
    "skaidm bounded": "skaidm, bounds=(0, 1.5)",
    "skaidm default": "skaidm, default generator",
}
COLUMNS = (
    "method",
    "repeat",
    "fold",
    "macro_f1",
    "rare_recall",
    "rare_aug_recall",
    "n_rare",
    "n_rare_aug",
    "n_train",
    "n_synthetic",
    "n_classes_augmented",
    "fit_s",
    "clf_s",
    "warnings",
)


def classifier():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def targets(y):
    """Synthetic rows per class: 'not majority', classes >= MIN_CLASS_SIZE only."""
    labels, counts = np.unique(y, return_counts=True)
    n_max = counts.max()
    return {
        c: int(n_max - n)
        for c, n in zip(labels, counts, strict=True)
        if MIN_CLASS_SIZE <= n < n_max
    }


def per_class_density(kind, X_c, n_new, rng):
    """Fit GMM / KDE on one class's robust-scaled, whitened rows and sample."""
    scaler = RobustScaler().fit(X_c)
    whitening = skaidm.WhiteningPCA(n_components=WHITENING)
    eta = whitening.fit_transform(scaler.transform(X_c))
    n, d = eta.shape
    if kind == "GaussianMixture":
        # One diagonal component: with 3-20 rows per class nothing richer is
        # identifiable (in the whitened space it is the class's Gaussian).
        gm = GaussianMixture(1, covariance_type="diag", random_state=rng).fit(eta)
        H = gm.sample(n_new)[0]
    else:
        # Scott's rule for unit-variance (whitened) coordinates: n^(-1/(d+4)).
        kde = KernelDensity(bandwidth=n ** (-1.0 / (d + 4))).fit(eta)
        H = kde.sample(n_new, random_state=rng)
    return scaler.inverse_transform(whitening.inverse_transform(H))


def augment(method, X, y, seed):
    """Real rows followed by synthetic ones; classes below MIN_CLASS_SIZE untouched."""
    want = targets(y)
    if method == "none" or not want:
        return X, y
    if method == "SMOTE":
        from imblearn.over_sampling import SMOTE

        smallest = min(int(np.sum(y == c)) for c in want)
        smote = SMOTE(
            sampling_strategy={c: int(np.sum(y == c)) + n for c, n in want.items()},
            k_neighbors=min(5, smallest - 1),
            random_state=seed,
        )
        return smote.fit_resample(X, y)
    if method in ("GaussianMixture", "KernelDensity"):
        rng = np.random.RandomState(seed)
        parts_X, parts_y = [X], [y]
        for c, n in want.items():
            parts_X.append(per_class_density(method, X[y == c], n, rng))
            parts_y.append(np.full(n, c, dtype=y.dtype))
        return np.vstack(parts_X), np.concatenate(parts_y)
    bounds = (0.0, 1.5) if method == "skaidm bounded" else None
    sampler = skaidm.ClassConditionalSampler(
        generator=skaidm.make_aidm_pipeline(bounds=bounds),
        sampling_strategy="not majority",
        min_class_size=MIN_CLASS_SIZE,
        random_state=seed,
    )
    return sampler.fit_resample(X, y)


def run(method, repeat, fold, X_train, y_train, X_test, y_test):
    seed = 1000 * repeat + fold
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        X_aug, y_aug = augment(method, X_train, y_train, seed)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        model = classifier().fit(X_aug, y_aug)
        clf_s = time.perf_counter() - start
        pred = model.predict(X_test)
    test_labels = np.unique(y_test)
    labels, counts = np.unique(y_train, return_counts=True)
    n_train = dict(zip(labels.tolist(), counts.tolist(), strict=True))
    rare = [c for c in test_labels if n_train.get(c, 0) <= RARE_MAX]
    rare_aug = [c for c in rare if n_train.get(c, 0) >= MIN_CLASS_SIZE]

    def recall(classes):
        if not classes:
            return np.nan
        return recall_score(
            y_test, pred, labels=classes, average="macro", zero_division=0
        )

    return {
        "method": method,
        "repeat": repeat,
        "fold": fold,
        "macro_f1": f1_score(
            y_test, pred, labels=test_labels, average="macro", zero_division=0
        ),
        "rare_recall": recall(rare),
        "rare_aug_recall": recall(rare_aug),
        "n_rare": len(rare),
        "n_rare_aug": len(rare_aug),
        "n_train": len(y_train),
        "n_synthetic": len(y_aug) - len(y_train),
        "n_classes_augmented": len(targets(y_train)) if method != "none" else 0,
        "fit_s": fit_s,
        "clf_s": clf_s,
        "warnings": ";".join(sorted({type(w.message).__name__ for w in caught})),
    }


def ci(values):
    """Mean and half-width of mean +- 1.96 sd / sqrt(n) (NaNs dropped)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float(np.mean(v)) if len(v) else np.nan, np.nan
    return float(v.mean()), float(1.96 * v.std(ddof=1) / np.sqrt(len(v)))


def summarise(rows):
    table = {}
    for m in METHODS:
        sub = [r for r in rows if r["method"] == m]
        if not sub:
            continue
        e = {"n": len(sub)}
        for key in ("macro_f1", "rare_recall", "rare_aug_recall"):
            e[key], e[key + "_ci"] = ci([r[key] for r in sub])
        for key in ("n_synthetic", "fit_s", "clf_s", "n_rare", "n_rare_aug"):
            e[key] = float(np.mean([r[key] for r in sub]))
        e["warnings"] = ", ".join(
            sorted({w for r in sub for w in str(r["warnings"]).split(";") if w})
        )
        table[m] = e
    return table


def paired(rows, a, b, key):
    """Mean and CI half-width of the per-split difference a - b."""
    va = {(r["repeat"], r["fold"]): r[key] for r in rows if r["method"] == a}
    vb = {(r["repeat"], r["fold"]): r[key] for r in rows if r["method"] == b}
    diffs = [va[k] - vb[k] for k in va if k in vb]
    return ci(diffs)


def figure(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(table)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    panels = (
        ("macro_f1", "macro-F1 (all test classes)"),
        ("rare_recall", f"recall, rare classes (<= {RARE_MAX} train rows)"),
        (
            "rare_aug_recall",
            f"recall, rare classes with {MIN_CLASS_SIZE}-{RARE_MAX} rows",
        ),
    )
    ypos = np.arange(len(methods))[::-1]
    colors = [
        "tab:red" if m.startswith("skaidm") else "k" if m == "none" else "tab:blue"
        for m in methods
    ]
    for ax, (key, title) in zip(axes, panels, strict=True):
        means = [table[m][key] for m in methods]
        errs = [table[m][key + "_ci"] for m in methods]
        for y0, mean, err, color in zip(ypos, means, errs, colors, strict=True):
            ax.errorbar(mean, y0, xerr=err, fmt="o", color=color, capsize=4, ms=7)
        ax.axvline(table["none"][key], color="gray", ls="--", lw=0.8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ypos, [LABELS[m] for m in methods])
    fig.suptitle(
        "Logistic regression on real vs real + synthetic spectra "
        f"(mean ± 95% CI over {N_FOLDS}x{N_REPEATS} group splits)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write_csv(rows, path):
    with open(path, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        for r in rows:
            f.write(",".join(str(r[c]) for c in COLUMNS) + "\n")


def verdict_line(rows, a, b, key):
    mean, half = paired(rows, a, b, key)
    if not np.isfinite(half):
        return "no paired splits", 0
    if mean - half > 0:
        word, sign = "**better**", 1
    elif mean + half < 0:
        word, sign = "**worse**", -1
    else:
        word, sign = "no significant difference", 0
    return f"{mean:+.3f} ± {half:.3f} ({word})", sign


def write_report(rows, path, seconds, info):
    img = path.parent / "img"
    img.mkdir(parents=True, exist_ok=True)
    figure_path = img / "augmentation.png"
    table = summarise(rows)
    figure(table, figure_path)
    write_csv(rows, path.with_suffix(".csv"))
    lines = [
        "# Augmentation: does class-conditional PLoM help a classifier?",
        "",
        f"Generated by `python benchmarks/augmentation.py` on "
        f"{datetime.date.today().isoformat()} in {seconds / 60:.1f} minutes "
        "(2 jobs in parallel, one BLAS thread each).",
        f"Machine: {machine()}.",
        "",
        "## Protocol",
        "",
        f"Data: `skaidm.datasets.load_usgs_minerals()` restricted to the "
        f"{info['n_labels']} mineral labels that have at least two physical samples "
        f"(`groups`): {info['n_rows']} spectra x {info['n_bands']} bands (of 860 "
        f"spectra, 220 labels). Splits: `StratifiedGroupKFold(n_splits={N_FOLDS}, "
        f"shuffle=True)` on the labels with the physical sample as group, repeated "
        f"{N_REPEATS} times with seeds 0..{N_REPEATS - 1}: {info['n_splits']} "
        "train/test splits, no physical sample on both sides. Classifier: "
        "`make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))`,"
        " chosen over a random forest because it is deterministic (the only "
        "randomness left is the augmenter's), handles classes of one row, and its "
        "decision boundaries move with the class-conditional distributions, which "
        "is what augmentation changes; a forest's bootstrap and per-leaf votes "
        "respond to duplicated/interpolated rows in less direct ways.",
        "",
        "Augmentation is fitted on the training fold only. Every augmenter brings "
        f"each class with >= {MIN_CLASS_SIZE} training rows to the majority's "
        'training count (imbalanced-learn\'s `"not majority"`); classes with 1 or 2 '
        "training rows are left as they are for **every** augmenter (the minimum of "
        "`ClassConditionalSampler`, applied to all so that they add rows to the same "
        f"classes; about {info['n_small']:.0f} classes per fold). Augmenters:",
        "",
        "- **SMOTE**: `imblearn.over_sampling.SMOTE` with a `sampling_strategy` "
        "dict over those classes and `k_neighbors = min(5, smallest targeted "
        f"class - 1)` = {MIN_CLASS_SIZE - 1} here (the smallest targeted class has "
        f"{MIN_CLASS_SIZE} rows in every fold).",
        "- **GaussianMixture / KernelDensity**, per class: `RobustScaler` then "
        f"`skaidm.WhiteningPCA({WHITENING})` fitted on that class's rows (as the "
        "baselines of validate.py, but per class), then a one-component diagonal "
        "`GaussianMixture` (nothing richer is identifiable from 3-20 rows), resp. a "
        "Gaussian `KernelDensity` with Scott's bandwidth `n_c^(-1/(d+4))` for the "
        "unit-variance whitened coordinates (d = whitened rank); samples are mapped "
        "back to reflectance.",
        "- **skaidm**: `ClassConditionalSampler(generator=make_aidm_pipeline("
        'bounds=(0.0, 1.5)), sampling_strategy="not majority", min_class_size=3)`'
        " and the same with the default `make_aidm_pipeline()` (no bounds).",
        "",
        "Metrics on the test fold: **macro-F1** over the labels present in the test "
        'fold (`f1_score(labels=test labels, average="macro")`; predicting an '
        "absent label counts against the true class's recall only). **Rare-class "
        f"recall**: a class is *rare* in a fold when it has <= {RARE_MAX} training "
        "rows in that fold; the score is the unweighted mean of the per-class recall "
        "over the rare classes present in the test fold (about "
        f"{info['n_rare']:.0f} classes per fold). Because classes with 1-2 rows are "
        "never augmented, the page also reports the recall over the rare classes "
        f"with {MIN_CLASS_SIZE}-{RARE_MAX} training rows (about "
        f"{info['n_rare_aug']:.0f} per fold), the ones every augmenter touches. "
        f"Confidence intervals: mean ± 1.96 sd / sqrt({info['n_splits']}) over the "
        "splits. Folds of one repeat share training rows, so these intervals are "
        "approximate (optimistic); the comparisons below use the **paired** "
        "per-split differences, with the same formula.",
        "",
        "## Results",
        "",
        "| method | macro-F1 | rare-class recall | rare recall (3-4 rows) | "
        "synthetic rows / fold | augmenter fit + sample s | classifier fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, e in table.items():
        lines.append(
            f"| {LABELS[m]} | {e['macro_f1']:.3f} ± {e['macro_f1_ci']:.3f} | "
            f"{e['rare_recall']:.3f} ± {e['rare_recall_ci']:.3f} | "
            f"{e['rare_aug_recall']:.3f} ± {e['rare_aug_recall_ci']:.3f} | "
            f"{e['n_synthetic']:.0f} | {e['fit_s']:.1f} | {e['clf_s']:.1f} |"
        )
    lines += [
        "",
        f"Training rows per fold: {info['n_train']:.0f} real on average. "
        "Warnings seen: "
        + "; ".join(f"{LABELS[m]}: {e['warnings'] or 'none'}" for m, e in table.items())
        + ".",
        "",
        "![macro-F1 and rare-class recall per method](img/augmentation.png)",
        "",
        "## Verdict",
        "",
        "Paired differences (skaidm minus the other method, mean ± 95% CI over the "
        f"{info['n_splits']} splits; better/worse only when the interval excludes "
        "0):",
        "",
        "| skaidm generator | versus | Δ macro-F1 | Δ rare recall | "
        "Δ rare recall (3-4 rows) |",
        "|---|---|---|---|---|",
    ]
    signs = {}
    for s in ("skaidm bounded", "skaidm default"):
        if s not in table:
            continue
        for other in METHODS:
            if other.startswith("skaidm") or other not in table:
                continue
            cells = []
            for key in ("macro_f1", "rare_recall", "rare_aug_recall"):
                text, sign = verdict_line(rows, s, other, key)
                cells.append(text)
                signs[s, other, key] = sign
            lines.append(
                f"| {LABELS[s]} | {LABELS[other]} | " + " | ".join(cells) + " |"
            )
    lines += ["", *plain_verdict(table, signs), ""]
    path.write_text("\n".join(lines))


def plain_verdict(table, signs):
    words = {1: "helps", -1: "hurts", 0: "makes no significant difference"}
    out = []
    for s in ("skaidm bounded", "skaidm default"):
        if s not in table:
            continue
        f1 = signs[s, "none", "macro_f1"]
        rare = signs[s, "none", "rare_recall"]
        out.append(
            f"- **{LABELS[s]} vs no augmentation**: it {words[f1]} on macro-F1 "
            f"({table[s]['macro_f1']:.3f} vs {table['none']['macro_f1']:.3f}) and "
            f"{words[rare]} on rare-class recall ({table[s]['rare_recall']:.3f} vs "
            f"{table['none']['rare_recall']:.3f})."
        )
        others = [
            o for o in ("SMOTE", "GaussianMixture", "KernelDensity") if o in table
        ]
        better = [o for o in others if signs[s, o, "macro_f1"] == 1]
        worse = [o for o in others if signs[s, o, "macro_f1"] == -1]
        tied = [o for o in others if signs[s, o, "macro_f1"] == 0]
        parts = []
        if better:
            parts.append("significantly better than " + ", ".join(better))
        if worse:
            parts.append("significantly worse than " + ", ".join(worse))
        if tied:
            parts.append("not distinguishable from " + ", ".join(tied))
        out.append(
            f"- **{LABELS[s]} vs the other augmenters** (macro-F1): "
            + "; ".join(parts)
            + "."
        )
    best = max(table, key=lambda m: table[m]["macro_f1"])
    out.append(
        f"- Highest mean macro-F1: {LABELS[best]} ({table[best]['macro_f1']:.3f}); "
        "differences within the CIs are not evidence either way."
    )
    return out


def read_rows(csv):
    lines = csv.read_text().splitlines()
    keys = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        r = dict(zip(keys, line.split(","), strict=True))
        for k in COLUMNS[1:-1]:
            r[k] = float(r[k])
        rows.append(r)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=N_REPEATS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "augmentation.md"
    )
    args = parser.parse_args(argv)

    data = skaidm.datasets.load_usgs_minerals()
    X, y, groups = data.data, np.asarray(data.target), np.asarray(data.groups)
    labels = np.unique(y)
    keep = [c for c in labels if len(np.unique(groups[y == c])) >= 2]
    mask = np.isin(y, keep)
    X, y, groups = X[mask], y[mask], groups[mask]
    splits = []
    for repeat in range(args.repeats):
        cv = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=repeat)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # classes of < 5 groups
            for fold, (tr, te) in enumerate(cv.split(X, y, groups)):
                splits.append((repeat, fold, tr, te))
    jobs = [
        delayed(run)(m, repeat, fold, X[tr], y[tr], X[te], y[te])
        for repeat, fold, tr, te in splits
        for m in args.methods
    ]
    print(f"{len(keep)} labels, {len(y)} spectra, {len(jobs)} jobs", flush=True)
    start = time.perf_counter()
    rows = []
    for i, row in enumerate(Parallel(n_jobs=args.n_jobs, return_as="generator")(jobs)):
        rows.append(row)
        print(
            f"  {i + 1}/{len(jobs)} {row['method']} r{row['repeat']} f{row['fold']} "
            f"F1={row['macro_f1']:.3f} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    seconds = time.perf_counter() - start
    small = []
    for _, _, tr, _ in splits:
        counts = np.unique(y[tr], return_counts=True)[1]
        small.append(np.sum(counts < MIN_CLASS_SIZE))
    none_rows = [r for r in rows if r["method"] == rows[0]["method"]]
    info = {
        "n_labels": len(keep),
        "n_rows": len(y),
        "n_bands": X.shape[1],
        "n_splits": len(splits),
        "n_small": float(np.mean(small)),
        "n_rare": float(np.mean([r["n_rare"] for r in none_rows])),
        "n_rare_aug": float(np.mean([r["n_rare_aug"] for r in none_rows])),
        "n_train": float(np.mean([r["n_train"] for r in none_rows])),
    }
    write_report(rows, args.output, seconds, info)
    print(f"wrote {args.output} in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    warnings.simplefilter("ignore", ConvergenceWarning)
    sys.exit(main())
