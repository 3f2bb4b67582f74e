"""Evidence for the landmark (Nystrom) diffusion-map basis.

Run from the repository root::

    python benchmarks/landmarks.py

It writes ``docs/landmarks.md`` and the figures ``docs/img/landmarks-*.png``. Every
number on that page comes from this run (about 15 minutes on two cores; needs
matplotlib, not a dependency of skaidm itself).

Contents:

a. Where the dense kernel is feasible (5,000 and 10,000 rows of the 285-band
   correlated Gaussian, r = 50, m = r + 1): landmark against dense at the bandwidth
   each fit's gap rule selects and at a common bandwidth (eigenvalues, principal
   angles between the spans), uniform against farthest-point landmarks, plain PLoM
   sample statistics over a few seeds, fit time and peak memory.
b. 50,000 rows with the default ``n_landmarks="auto"``: fit and one realisation in
   a fresh process, time and peak resident memory.
"""

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy
import scipy.linalg
from _machine import (  # benchmarks/_machine.py
    emit_phase,
    machine_info,
    outcome,
    proc_status,
    run_monitored,
)
from sklearn.neighbors import NearestNeighbors

from skaidm import AnisotropicDiffusionMap, PLoMSampler, WhiteningPCA
from skaidm._kernels import squared_distances
from skaidm.datasets import make_correlated_gaussian
from skaidm.diffusion import AUTO_DENSE_MAX_ROWS, AUTO_N_LANDMARKS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
IMG = DOCS / "img"
PAGE = DOCS / "landmarks.md"
R = 50  # whitened dimension; m = R + 1 by the gap rule
MEMORY_TARGET_MB = 8000
DPI = 110


# ----------------------------------------------------------------------- helpers
def correlated(n_samples, rho=0.98, n_features=285, seed=5):
    """The 285-band correlated Gaussian, C_ij = rho^|i-j|, default_rng(seed)."""
    return make_correlated_gaussian(
        n_samples, n_features, rho=rho, random_state=np.random.default_rng(seed)
    )


def measured(fn):
    """Run fn(); wall time and peak resident memory above the start, MB.

    The peak is VmHWM after resetting it to the current RSS (``5`` written to
    /proc/self/clear_refs, Linux >= 4.0), so it covers this call only.
    """
    reset = False
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    before = proc_status()["VmRSS"]
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = proc_status()["VmHWM"] - before if reset else math.nan
    return result, seconds, peak


def principal_angles(A, B):
    """Principal angles between span(A) and span(B), degrees, increasing."""
    QA, _ = np.linalg.qr(A)
    QB, _ = np.linalg.qr(B)
    cosines = np.clip(scipy.linalg.svdvals(QA.T @ QB), 0.0, 1.0)
    return np.sort(np.degrees(np.arccos(cosines)))


def farthest_point(Y, n, seed=0):
    """Farthest-point (greedy k-centre) sample of n rows, from a random first row."""
    rng = np.random.default_rng(seed)
    idx = [int(rng.integers(len(Y)))]
    dist = squared_distances(Y, Y[idx]).ravel()
    for _ in range(n - 1):
        idx.append(int(np.argmax(dist)))
        dist = np.minimum(dist, squared_distances(Y, Y[idx[-1:]]).ravel())
    return np.sort(np.array(idx))


def extended_basis(eta, idx, epsilon, m):
    """Dense diffusion map on the rows idx, Nystrom-extended to all rows.

    Independent of the estimator's landmark path: a dense fit on eta[idx] and its
    own ``transform`` (kappa = 0 gives psi on new rows).
    """
    sub = AnisotropicDiffusionMap(
        epsilon=epsilon, n_components=m, kappa=0.0, n_landmarks=None
    ).fit(eta[idx])
    return sub.eigenvalues_, sub.transform(eta)


def sample_statistics(H, eta, nn_train):
    """Whitened variance range, nn ratio and d^2 of one realisation H (N x r)."""
    var = H.var(axis=0)
    d_gen = nn_train.kneighbors(H, n_neighbors=1)[0][:, 0]
    d_train = nn_train.kneighbors(eta, n_neighbors=2)[0][:, 1]
    return {
        "var_min": float(var.min()),
        "var_max": float(var.max()),
        "var_mean": float(var.mean()),
        "nn_ratio": float(np.median(d_gen) / np.median(d_train)),
        "d2": float(np.sum((H - eta) ** 2) / np.sum(eta**2)),
    }


def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def span(values, digits=3):
    lo, hi = fmt(min(values), digits), fmt(max(values), digits)
    return lo if lo == hi else f"{lo}-{hi}"


# --------------------------------------------------------------- a. feasible N
def plom(X, n_landmarks, seed):
    return PLoMSampler(
        WhiteningPCA(n_components=R),
        diffusion_map=AnisotropicDiffusionMap(
            n_landmarks=n_landmarks, random_state=seed
        ),
        random_state=seed,
    ).fit(X)


def compare(N, L, seeds, log):
    X = correlated(N)
    out = {"N": N, "L": L}
    dense, t, mem = measured(lambda: plom(X, None, 0))
    d = dense.diffusion_map_
    eta = dense.eta_
    m = d.n_components_
    nn_train = NearestNeighbors(algorithm="brute").fit(eta)
    out["dense"] = {
        "fit_s": t,
        "peak_mb": mem,
        "epsilon": d.epsilon_,
        "m": m,
        "eigenvalues": d.eigenvalues_.tolist(),
        "stats": [],
    }
    log(f"  N={N} dense: fit {t:.1f} s, +{mem:.0f} MB, epsilon {d.epsilon_:.4g}")
    for s in seeds:
        H = dense.sample_whitened(1, random_state=100 + s)[0]
        out["dense"]["stats"].append(sample_statistics(H, eta, nn_train))

    rows = []
    for s in seeds:
        lm, t, mem = measured(lambda s=s: plom(X, L, s))
        g = lm.diffusion_map_
        assert np.allclose(lm.eta_, eta)
        H = lm.sample_whitened(1, random_state=100 + s)[0]
        # Same bandwidth as dense: landmark operator at the dense epsilon.
        common = AnisotropicDiffusionMap(
            epsilon=d.epsilon_, n_components=m, n_landmarks=L, random_state=s
        ).fit(eta)
        row = {
            "seed": s,
            "fit_s": t,
            "peak_mb": mem,
            "epsilon": g.epsilon_,
            "m": g.n_components_,
            "eigenvalues": g.eigenvalues_.tolist(),
            "rule_dlam": float(np.abs(g.eigenvalues_[:m] - d.eigenvalues_).max()),
            "rule_angles": principal_angles(g.eigenvectors_, d.eigenvectors_).tolist(),
            "common_eigenvalues": common.eigenvalues_.tolist(),
            "common_dlam": float(np.abs(common.eigenvalues_ - d.eigenvalues_).max()),
            "common_angles": principal_angles(
                common.eigenvectors_, d.eigenvectors_
            ).tolist(),
            "stats": sample_statistics(H, eta, nn_train),
        }
        if s == seeds[0]:
            # Dense at the landmark rule's epsilon: the other common bandwidth.
            at_lm = AnisotropicDiffusionMap(
                epsilon=g.epsilon_, n_components=m, n_landmarks=None, random_state=0
            ).fit(eta)
            row["at_lm_dlam"] = float(
                np.abs(g.eigenvalues_[:m] - at_lm.eigenvalues_).max()
            )
            row["at_lm_angles"] = principal_angles(
                g.eigenvectors_, at_lm.eigenvectors_
            ).tolist()
            row["at_lm_gap"] = at_lm.gap_ratio_
            # Farthest-point landmarks at the dense epsilon, for comparison.
            idx = farthest_point(eta, L, seed=s)
            lam_fp, psi_fp = extended_basis(eta, idx, d.epsilon_, m)
            row["fp_dlam"] = float(np.abs(lam_fp - d.eigenvalues_).max())
            row["fp_angles"] = principal_angles(psi_fp, d.eigenvectors_).tolist()
        rows.append(row)
        log(
            f"  N={N} L={L} seed {s}: fit {t:.1f} s, +{mem:.0f} MB, epsilon "
            f"{g.epsilon_:.4g}, angle {max(row['rule_angles']):.2f} deg (rule), "
            f"{max(row['common_angles']):.2f} deg (common)"
        )
    out["landmark"] = rows
    return out


# --------------------------------------------------------------- b. large N
def big_worker(N):
    """Fit + one realisation of plain PLoM with the defaults; JSON lines out."""

    X = correlated(N)
    emit_phase("data")
    start = time.perf_counter()
    sampler = PLoMSampler(WhiteningPCA(n_components=R), random_state=0).fit(X)
    fit_s = time.perf_counter() - start
    d = sampler.diffusion_map_
    emit_phase(
        "fit",
        fit_s=fit_s,
        epsilon=d.epsilon_,
        epsilon_rule=d.epsilon_rule_,
        m=d.n_components_,
        n_landmarks=d.n_landmarks_,
        n_evaluations=len(d.epsilon_search_),
        n_steps=sampler.n_steps_,
        shape=list(d.eigenvectors_.shape),
    )
    start = time.perf_counter()
    H = sampler.sample_whitened(1)[0]
    sample_s = time.perf_counter() - start
    var = H.var(axis=0)
    eta = sampler.eta_
    emit_phase(
        "sample",
        sample_s=sample_s,
        var_min=float(var.min()),
        var_max=float(var.max()),
        d2=float(np.sum((H - eta) ** 2) / np.sum(eta**2)),
    )


def run_big(N, timeout, log):
    run = run_monitored(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(N)],
        timeout,
        cwd=ROOT,
    )
    phases = run["phases"]
    row = {
        "N": N,
        "wall_s": run["wall_s"],
        "peak_mb": run["peak_mb"],
        "data_mb": phases.get("data", {}).get("hwm_mb", math.nan),
        **phases.get("fit", {}),
        **{k: v for k, v in phases.get("sample", {}).items() if k != "hwm_mb"},
        "fit_peak_mb": phases.get("fit", {}).get("hwm_mb", math.nan),
    }
    row["outcome"] = outcome(run, timeout)
    log(
        f"  N={N}: {row['outcome']}, peak {row['peak_mb']:.0f} MB, "
        f"wall {run['wall_s']:.0f} s"
    )
    return row


# ---------------------------------------------------------------------- report
def figures(results):
    paths = []
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 3.8))
    for ax, res in zip(np.atleast_1d(axes), results, strict=True):
        row = res["landmark"][0]
        k = np.arange(1, len(row["rule_angles"]) + 1)
        ax.plot(k, row["rule_angles"], "o-", ms=3, label="each at its rule's epsilon")
        ax.plot(k, row["common_angles"], "s-", ms=3, label="both at dense epsilon")
        ax.plot(k, row["at_lm_angles"], "^-", ms=3, label="both at landmark epsilon")
        ax.plot(k, row["fp_angles"], "x-", ms=3, label="farthest-point, dense eps.")
        ax.set_title(f"N = {res['N']}, L = {res['L']} (seed {row['seed']})")
        ax.set_xlabel("principal angle index")
        ax.set_ylabel("degrees")
        ax.legend(fontsize=7)
    fig.suptitle("Principal angles between landmark and dense spans (m = 51)")
    fig.tight_layout()
    paths.append(IMG / "landmarks-angles.png")
    fig.savefig(paths[-1], dpi=DPI)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 3.8))
    for ax, res in zip(np.atleast_1d(axes), results, strict=True):
        row = res["landmark"][0]
        k = np.arange(2, len(res["dense"]["eigenvalues"]) + 1)
        ax.plot(k, res["dense"]["eigenvalues"][1:], "k-", label="dense")
        ax.plot(
            k, row["common_eigenvalues"][1:], "s", ms=3, label="landmarks, dense eps."
        )
        ax.plot(k, row["eigenvalues"][1:], "o", ms=3, label="landmarks, own rule eps.")
        ax.set_title(f"N = {res['N']}, L = {res['L']}")
        ax.set_xlabel("index (constant vector = 1, not shown)")
        ax.set_ylabel("eigenvalue")
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(IMG / "landmarks-spectra.png")
    fig.savefig(paths[-1], dpi=DPI)
    plt.close(fig)
    return paths


def write_page(info, results, big, seeds, elapsed):
    md = [
        "# Evidence for the landmark basis",
        "",
        "Generated by `python benchmarks/landmarks.py`; do not edit by hand. Every "
        "number and figure on this page comes from the run described below. How to "
        "use landmarks is explained in [Large data sets](large-data.md).",
        "",
        "## Run",
        "",
        *info,
        f"- duration: {elapsed / 60:.1f} minutes",
        "",
        "The machine has two cores shared with other work, so timings are noisy. "
        "Peak memory of a fit is the process's resident high-water mark (VmHWM) "
        "reset just before the fit, minus the resident memory at that moment.",
        "",
        "Data: the correlated Gaussian with C_ij = 0.98^|i-j| over 285 bands, "
        "`np.random.default_rng(5)`; plain PLoM, "
        f"`PLoMSampler(WhiteningPCA(n_components={R}), diffusion_map=...)` (gap "
        f"rule for epsilon, m = r + 1 = {R + 1}, f0 = 4). Sample statistics of one "
        "realisation (N generated rows) in whitened coordinates: the range of the "
        "per-coordinate variances; the nn ratio (median distance of a generated row "
        "to its nearest training row over the median nearest-neighbour distance "
        "within the training rows); d^2 = ||H - eta||_F^2 / ||eta||_F^2. The "
        "landmark fits use `random_state` = seed for the landmarks; realisation "
        "seeds are 100 + seed for both bases (common random numbers: the same "
        "initial conditions and noise, so the differences between the two bases "
        "show the effect of the basis alone, not Monte Carlo noise). Fit times "
        "include the whitening and the sampler's set-up; with other work on the "
        "machine a fit can take several times its unloaded time, so compare the "
        "smallest of the repeated landmark fits.",
        "",
    ]
    # Verdicts
    verdicts = []
    for res in results:
        rows = res["landmark"]
        rule = [max(r["rule_angles"]) for r in rows]
        common = [max(r["common_angles"]) for r in rows]
        verdicts.append(
            f"| N = {res['N']}, L = {res['L']}: largest principal angle to the dense "
            f"span | {span(rule)} deg at the rules' epsilons, {span(common)} deg at "
            f"the dense epsilon | - |"
        )
        dstats = res["dense"]["stats"]
        lstats = [r["stats"] for r in rows]
        rel = {
            key: np.mean([s[key] for s in lstats]) / np.mean([s[key] for s in dstats])
            - 1.0
            for key in ("var_mean", "nn_ratio", "d2")
        }
        verdicts.append(
            f"| N = {res['N']}, L = {res['L']}: PLoM samples, landmark against dense "
            f"(means over seeds {list(seeds)}) | d^2 "
            f"{np.mean([s['d2'] for s in lstats]):.4f} vs "
            f"{np.mean([s['d2'] for s in dstats]):.4f} ({100 * rel['d2']:+.1f}%), "
            f"mean variance {100 * rel['var_mean']:+.1f}%, nn ratio "
            f"{100 * rel['nn_ratio']:+.1f}% | - |"
        )
    if big:
        ok = big["outcome"] == "ok"
        verdicts.append(
            f"| {big['N']} x 285, default `n_landmarks='auto'`: fit + one realisation "
            f"completes | {big['outcome']}; fit {fmt(big.get('fit_s'))} s + "
            f"realisation {fmt(big.get('sample_s'))} s | "
            f"{'**met**' if ok else '**not met**'} |"
        )
        verdicts.append(
            f"| same run: peak resident memory < {MEMORY_TARGET_MB / 1000:.0f} GB | "
            f"{big['peak_mb'] / 1000:.2f} GB | "
            f"{'**met**' if big['peak_mb'] < MEMORY_TARGET_MB else '**not met**'} |"
        )
    md += [
        "## Summary",
        "",
        "| question | measured | verdict |",
        "|---|---|---|",
        *verdicts,
        "",
    ]

    md += ["## a. Landmarks against the dense kernel where both fit", ""]
    md += [
        "For each N: the dense fit (`n_landmarks=None`) and, for each seed, a fit "
        "on L uniformly drawn landmarks (`n_landmarks=L, random_state=seed`). "
        "'rule': each fit at the epsilon its own gap rule selects (the landmark "
        "rule sees only L rows and selects a larger bandwidth, as a dense fit of "
        "L rows would); 'dense eps.': the landmark operator at the dense fit's "
        "epsilon; 'landmark eps.': a dense fit at the landmark rule's epsilon "
        "(first seed only). max |d lambda| is over the top m eigenvalues; angles "
        "are the principal angles between the two m-dimensional spans (what PLoM "
        "uses: it orthonormalises the basis). 'farthest point': L landmarks by "
        "greedy farthest-point sampling instead of uniform, dense epsilon, first "
        "seed.",
        "",
        "| N | L | basis | epsilon | fit s | fit peak MB | max abs d lambda "
        "(rule / dense eps. / landmark eps.) | largest angle, deg "
        "(rule / dense eps. / landmark eps.) | median angle, deg (rule) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        d = res["dense"]
        md.append(
            f"| {res['N']} | - | dense | {fmt(d['epsilon'], 4)} | {fmt(d['fit_s'])} | "
            f"{fmt(d['peak_mb'], 4)} | - | - | - |"
        )
        for r in res["landmark"]:
            extra_l = f" / {fmt(r['at_lm_dlam'])}" if "at_lm_dlam" in r else ""
            extra_a = f" / {fmt(max(r['at_lm_angles']))}" if "at_lm_angles" in r else ""
            md.append(
                f"| {res['N']} | {res['L']} | landmarks, seed {r['seed']} | "
                f"{fmt(r['epsilon'], 4)} | {fmt(r['fit_s'])} | "
                f"{fmt(r['peak_mb'], 4)} | "
                f"{fmt(r['rule_dlam'])} / {fmt(r['common_dlam'])}{extra_l} | "
                f"{fmt(max(r['rule_angles']))} / {fmt(max(r['common_angles']))}"
                f"{extra_a} | {fmt(float(np.median(r['rule_angles'])))} |"
            )
        r0 = res["landmark"][0]
        md.append(
            f"| {res['N']} | {res['L']} | farthest point, seed {r0['seed']} | "
            f"{fmt(d['epsilon'], 4)} | - | - | - / {fmt(r0['fp_dlam'])} / - | "
            f"- / {fmt(max(r0['fp_angles']))} / - | - |"
        )
    md += [""]
    for res in results:
        r0 = res["landmark"][0]
        md.append(
            f"- N = {res['N']}: the dense gap ratio at the landmark rule's epsilon "
            f"is {fmt(r0['at_lm_gap'])} (the rule's threshold is 0.1)."
        )
    md += [
        "",
        "![principal angles](img/landmarks-angles.png)",
        "",
        "![eigenvalues](img/landmarks-spectra.png)",
        "",
        "### PLoM samples",
        "",
        "| N | L | basis | seed | whitened var min-max | mean var | nn ratio | d^2 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for s, st in zip(seeds, res["dense"]["stats"], strict=True):
            md.append(
                f"| {res['N']} | - | dense | {s} | {st['var_min']:.2f}-"
                f"{st['var_max']:.2f} | {st['var_mean']:.3f} | {st['nn_ratio']:.3f} | "
                f"{st['d2']:.4f} |"
            )
        for r in res["landmark"]:
            st = r["stats"]
            md.append(
                f"| {res['N']} | {res['L']} | landmarks | {r['seed']} | "
                f"{st['var_min']:.2f}-{st['var_max']:.2f} | {st['var_mean']:.3f} | "
                f"{st['nn_ratio']:.3f} | {st['d2']:.4f} |"
            )
    md += [""]
    if big:
        md += [
            f"## b. {big['N']} rows with the default",
            "",
            f"`PLoMSampler(WhiteningPCA(n_components={R}), random_state=0).fit(X)` "
            "then `sample_whitened(1)`, in a fresh process; the diffusion map's "
            f"`n_landmarks='auto'` uses {AUTO_N_LANDMARKS} landmarks above "
            f"{AUTO_DENSE_MAX_ROWS} rows. Peak memory is the process's VmHWM "
            "(/proc/<pid>/status), reported after each phase and sampled every "
            "0.5 s by the parent.",
            "",
            "| N | landmarks | epsilon (rule, evaluations) | m | steps | fit s | "
            "one realisation s | peak RSS MB | RSS after data MB | whitened var "
            "min-max | d^2 | outcome |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {big['N']} | {big.get('n_landmarks', '-')} | "
            f"{fmt(big.get('epsilon'), 4)} ({big.get('epsilon_rule', '-')}, "
            f"{big.get('n_evaluations', '-')}) | {big.get('m', '-')} | "
            f"{big.get('n_steps', '-')} | {fmt(big.get('fit_s'))} | "
            f"{fmt(big.get('sample_s'))} | {big['peak_mb']:.0f} | "
            f"{big['data_mb']:.0f} | {fmt(big.get('var_min'), 2)}-"
            f"{fmt(big.get('var_max'), 2)} | {fmt(big.get('d2'))} | "
            f"{big['outcome']} |",
            "",
            f"Fitted basis shape: {big.get('shape', '-')} (N x m over all training "
            "rows). The dense kernel at this N would need two float32 N x N "
            f"matrices, {2 * 4 * big['N'] ** 2 / 1e9:.0f} GB.",
            "",
        ]
    PAGE.write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--n-landmarks", type=int, default=2500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--big", type=int, default=50000, help="0 to skip part b")
    parser.add_argument("--big-timeout", type=float, default=1500.0)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        big_worker(args.worker)
        return
    start = time.perf_counter()
    IMG.mkdir(parents=True, exist_ok=True)

    def log(message):
        print(f"[{time.perf_counter() - start:6.0f} s] {message}", flush=True)

    info = machine_info()
    seeds = tuple(range(args.seeds))
    results = [compare(N, args.n_landmarks, seeds, log) for N in args.sizes]
    figures(results)
    big = run_big(args.big, args.big_timeout, log) if args.big else None
    write_page(info, results, big, seeds, time.perf_counter() - start)
    log(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
