"""Speed and memory of PLoMSampler, against pyplom and scikit-learn; writes docs/.

Run from the repository root::

    python benchmarks/performance.py              # 5 minutes on 2 idle cores, 25 busy
    python benchmarks/performance.py --max-n 2000 # a quick run, a few minutes

It writes ``docs/performance.md``, ``docs/performance.csv`` (every measurement, long
format) and ``docs/img/performance-*.png``. Every number and every "met / not met"
on the page comes from this run. Needs the ``benchmarks`` extra (matplotlib and
pyplom 2.0.1).

Contents:

a. Side by side at matched settings, skaidm against pyplom 2.0.1 (its C++ and its
   Python force) and scikit-learn's KernelDensity and GaussianMixture, on three
   data sets: fit time, sampling time per generated row and per realisation-step,
   and the statistics of PLOM_SPEC section 9 (whitened variances, nearest-
   neighbour ratio, d^2), so that speed is never bought with a different answer.
b. The roofline: one force evaluation against the two bare matrix products it
   contains, at a few sizes.
c. Growth of fit time, sampling time and peak memory with N and r, every size in a
   fresh process (peak resident memory from ``wait4``), up to N = 20000.
d. Parallel realisations: ``n_jobs=1`` against ``n_jobs=2``.
"""

import argparse
import contextlib
import datetime
import importlib.metadata
import io
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from _machine import emit_phase, outcome, run_monitored  # benchmarks/_machine.py
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity, NearestNeighbors
from sklearn.preprocessing import RobustScaler
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_info, threadpool_limits

import skaidm
import skaidm.plom as skaidm_plom
from skaidm import AnisotropicDiffusionMap, PLoMSampler, WhiteningPCA
from skaidm._isde import KDEPotential
from skaidm.datasets import load_usgs_minerals, make_correlated_gaussian, make_helix

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Realisations per sampling run of the peer comparison, and timing repeats.
N_REALISATIONS = 10
REPEATS = 3
SCALING_N = (500, 1000, 2000, 5000, 10000, 20000)
SCALING_R = (10, 25, 50, 100, 200, 285)
SCALING_R_N = 1000
LARGE_R = 50
ROOFLINE_SIZES = (
    (300, 50),
    (300, 100),
    (860, 49),
    (1000, 100),
    (1000, 285),
    (2000, 285),
)
ROOFLINE_TARGET_SIZE = (1000, 285)
PARALLEL_REALISATIONS = 8

TARGETS = {
    "speedup_b": 10.0,
    "speedup_a": 5.0,
    "speedup_c": 5.0,
    "roofline": 1.3,
    "large_seconds": 600.0,
    "large_gb": 8.0,
    "parallel_min": 1.0,
    "parallel_small": 1.6,
}

PYPLOM_BACKENDS = {"C++ (Eigen)": "cpp_eigen", "Python": "python"}


# ----------------------------------------------------------------------- helpers
def correlated(n_samples, rho=0.98, n_features=285, seed=5):
    """The 285-band correlated Gaussian, C_ij = rho^|i-j|, default_rng(seed)."""
    return make_correlated_gaussian(
        n_samples, n_features, rho=rho, random_state=np.random.default_rng(seed)
    )


def section7_gaussian():
    """PLOM_SPEC section 7: helix first, then the Gaussian, from one default_rng(0)."""
    rng = np.random.default_rng(0)
    make_helix(random_state=rng)
    return make_correlated_gaussian(random_state=rng)


def timed(func, repeats):
    """(min, median) wall time of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times)), result


def blas_threads():
    """Threads of every BLAS / OpenMP pool loaded in this process."""
    return {
        f"{i.get('internal_api')}": int(i.get("num_threads")) for i in threadpool_info()
    }


def fidelity(H, eta):
    """PLOM_SPEC section 9 statistics of generated rows in whitened coordinates.

    ``H`` is (n_realisations, N, r) with row j of each realisation tied to
    training row j (then d^2 is defined) or (n_rows, r) (d^2 is nan).
    """
    r = eta.shape[1]
    rows = H.reshape(-1, r)
    var = rows.var(axis=0, ddof=1)
    nn = NearestNeighbors(n_neighbors=2).fit(eta)
    train_nn = nn.kneighbors(eta)[0][:, 1]
    gen_nn = nn.kneighbors(rows, n_neighbors=1)[0][:, 0]
    if H.ndim == 3:
        d2 = float(np.mean(np.sum((H - eta[None]) ** 2, axis=(1, 2))) / np.sum(eta**2))
    else:
        d2 = math.nan
    return {
        "var_min": float(var.min()),
        "var_max": float(var.max()),
        "var_mean": float(var.mean()),
        "nn_ratio": float(np.median(gen_nn) / np.median(train_nn)),
        "d2": d2,
    }


@contextlib.contextmanager
def pyplom_backend(method):
    """Select pyplom's force backend for the block.

    pyplom keeps the loaded C++ library in a module global and uses it whenever
    it is loaded, whatever ``ito_potential_method`` says; so the global is reset
    here and the requested backend loaded (or not, for ``"python"``).
    """
    import plom.utils as pu

    saved = pu._potential_lib, pu._get_L_cpp_func
    pu._potential_lib, pu._get_L_cpp_func = None, None
    try:
        if method != "python" and not pu.load_backend(method):
            raise RuntimeError(f"pyplom backend {method!r} failed to load")
        yield
    finally:
        pu._potential_lib, pu._get_L_cpp_func = saved


def pyplom_active_backend():
    import plom.utils as pu

    return "python" if pu._potential_lib is None else Path(pu._potential_lib._name).stem


# ------------------------------------------------------------ a. peer comparison
def peer_datasets():
    usgs = load_usgs_minerals().data
    return [
        (
            "a",
            "correlated Gaussian 300 x 50 (PLOM_SPEC section 7)",
            section7_gaussian(),
            None,
        ),
        ("b", "correlated Gaussian 300 x 285, rho = 0.98", correlated(300), 100),
        (
            "c",
            f"USGS library {usgs.shape[0]} x {usgs.shape[1]}, RobustScaler",
            RobustScaler().fit_transform(usgs),
            49,
        ),
    ]


def peer_case(key, label, X, r, n_real, repeats, log):
    """All contestants on one data set at matched settings.

    Sampling is timed twice: with the default BLAS threads and under
    ``threadpool_limits(1)``; fits with the default only.
    """
    N = X.shape[0]
    rows = []

    # The bandwidth and m: skaidm's gap rule (m = r + 1), fitted once untimed; the
    # timed fits below are given them, as is pyplom.
    ref = PLoMSampler(WhiteningPCA(n_components=r), random_state=0).fit(X)
    eps = ref.diffusion_map_.epsilon_
    m = ref.diffusion_map_.n_components_
    r_used = ref.whitening_.n_components_
    dr, n_steps = ref.step_size_, ref.n_steps_
    eta = ref.eta_
    settings = {
        "dataset": key,
        "label": label,
        "N": N,
        "n_features": X.shape[1],
        "r": r_used,
        "epsilon": eps,
        "epsilon_pyplom": 4.0 * eps,
        "m": m,
        "m_pyplom": m - 1,
        "f0": ref.f0,
        "dr": dr,
        "n_steps": n_steps,
        "n_realisations": n_real,
        "s_hat": ref.s_hat_,
    }
    log(
        f"[{key}] N={N} r={r_used} eps={eps:.4g} (pyplom {4 * eps:.4g}) m={m} "
        f"dr={dr:.4g} steps={n_steps}"
    )
    n_rows = n_real * N
    n_real_steps = n_real * n_steps

    def sampling_times(draw, repeats):
        """min / median sampling time, default threads and one BLAS thread."""
        out = {}
        for suffix, limit in (("", None), ("_1t", 1)):
            with threadpool_limits(limit):
                t_min, t_med, result = timed(draw, repeats)
            out[f"sample_s{suffix}"] = t_min
            out[f"sample_s{suffix}_median"] = t_med
            out[f"per_row_us{suffix}"] = 1e6 * t_min / n_rows
            out[f"per_step_ms{suffix}"] = 1e3 * t_min / n_real_steps
        return out, result

    def entry(name, fit, times, stats, **extra):
        row = {
            **settings,
            "method": name,
            "fit_s": fit[0],
            "fit_s_median": fit[1],
            **times,
            **stats,
            **extra,
        }
        log(
            f"  {name:34s} fit {fit[0]:7.3f} s  sample {times['sample_s']:7.3f} s "
            f"/ 1 thread {times['sample_s_1t']:7.3f} s  "
            f"var {stats['var_min']:.2f}-{stats['var_max']:.2f} "
            f"nn {stats['nn_ratio']:.3f} d2 {stats['d2']:.3f}"
        )
        rows.append(row)

    # skaidm, matched: the default (single-precision force) and double precision,
    # with the same seeds.
    def make_skaidm(precision):
        return PLoMSampler(
            WhiteningPCA(n_components=r),
            AnisotropicDiffusionMap(epsilon=eps, n_components=m),
            force_precision=precision,
            random_state=0,
        )

    realisations = {}
    for precision, name in (("single", "skaidm"), ("double", "skaidm (double)")):
        fit_min, fit_med, plom = timed(
            lambda p=precision: make_skaidm(p).fit(X), repeats
        )
        # Sub-second samplings: more repeats, for a stable minimum.
        times, _ = sampling_times(
            lambda plom=plom: plom.sample(n_rows, random_state=1), 3 * repeats
        )
        realisations[precision] = plom.sample_whitened(n_real, random_state=1)
        stats = fidelity(realisations[precision], eta)
        entry(name, (fit_min, fit_med), times, stats)
    # Same seeds, same random numbers: how far apart the two precisions' rows are.
    settings["single_vs_double_max_abs"] = float(
        np.abs(realisations["single"] - realisations["double"]).max()
    )
    settings["rows_max_abs"] = float(np.abs(realisations["double"]).max())
    for row in rows:
        row.update(
            single_vs_double_max_abs=settings["single_vs_double_max_abs"],
            rows_max_abs=settings["rows_max_abs"],
        )
    # skaidm with its own bandwidth search (the default fit), for the record.
    auto_min, _, _ = timed(
        lambda: PLoMSampler(WhiteningPCA(n_components=r), random_state=0).fit(X),
        repeats,
    )
    settings_auto = {"fit_auto_s": auto_min}

    # pyplom, matched: no scaling of its own (same input), PCA to the same r,
    # epsilon x 4 (its kernel is exp(-d^2/eps)), m - 1 (it drops the constant
    # vector), and skaidm's f0, dr and number of steps.
    from plom import PLoM

    def make_pyplom(method):
        return PLoM(
            use_scaling=False,
            pca_method="pca_dim",
            pca_dim=r_used,
            dmaps_epsilon=4.0 * eps,
            dmaps_m_override=m - 1,
            ito_f0=ref.f0,
            ito_dr=dr,
            ito_steps=n_steps,
            ito_potential_method=method,
            n_jobs=1,
            verbose=0,
            random_state=0,
        )

    peer_repeats = max(1, repeats - 1)
    for name, method in PYPLOM_BACKENDS.items():
        with pyplom_backend(method), contextlib.redirect_stdout(io.StringIO()):
            fit_min, fit_med, model = timed(
                lambda method=method: make_pyplom(method).fit(X), peer_repeats
            )
            active = pyplom_active_backend()
            times, X_gen = sampling_times(
                lambda model=model: model.sample(n_real), peer_repeats
            )
        H = ref.whitening_.transform(X_gen).reshape(n_real, N, r_used)
        entry(
            f"pyplom {name}",
            (fit_min, fit_med),
            times,
            fidelity(H, eta),
            backend=active,
        )
    # pyplom's own epsilon search ("auto"), fit only, for the record.
    with pyplom_backend("python"), contextlib.redirect_stdout(io.StringIO()):
        model = make_pyplom("python")
        model.dmaps.epsilon = "auto"
        model.dmaps.m_override = 0
        start = time.perf_counter()
        model.fit(X)
        settings_auto["fit_auto_pyplom_s"] = time.perf_counter() - start
        settings_auto["pyplom_auto_epsilon"] = model.dmaps.epsilon_fitted_ / 4.0
        settings_auto["pyplom_auto_m"] = model.dmaps.dimension_

    # scikit-learn on the same whitened rows, n_rows draws.
    potential = KDEPotential(eta)

    def fit_kde():
        return KernelDensity(bandwidth=potential.s_hat).fit(potential.H)

    fit_min, fit_med, kde = timed(fit_kde, repeats)
    times, H = sampling_times(lambda: kde.sample(n_rows, random_state=1), repeats)
    entry("sklearn KernelDensity", (fit_min, fit_med), times, fidelity(H, eta))

    def fit_gmm():
        return min(
            (
                GaussianMixture(k, covariance_type="full", random_state=0).fit(eta)
                for k in (1, 2, 4, 8)
            ),
            key=lambda gm: gm.bic(eta),
        )

    fit_min, fit_med, gmm = timed(fit_gmm, repeats)
    times, H = sampling_times(lambda: gmm.sample(n_rows)[0], repeats)
    entry(
        f"sklearn GaussianMixture (k = {gmm.n_components})",
        (fit_min, fit_med),
        times,
        fidelity(H, eta),
    )
    for row in rows:
        row.update(settings_auto)
    return rows


# ------------------------------------------------------------------ b. roofline
def roofline(sizes, repeats, log):
    """One force evaluation against its two bare GEMMs, interleaved repeats.

    Measured with the default BLAS threads (keys without suffix) and under
    ``threadpool_limits(1)`` (suffix ``_1t``).
    """
    out = []
    for (N, r), (precision, dtype) in itertools.product(
        sizes, (("double", np.float64), ("single", np.float32))
    ):
        rng = np.random.default_rng(N + r)
        eta = rng.standard_normal((N, r))
        U = eta + 0.3 * rng.standard_normal((N, r))
        potential = KDEPotential(eta, dtype)
        # The bare products in the force's precision (the particles U are cast
        # into the query block by the force itself; here once, untimed).
        H = potential.H.astype(dtype)
        U_bare = U.astype(dtype)
        L = np.empty_like(U)
        G = np.empty((N, N), dtype=dtype)
        W = np.abs(rng.standard_normal((N, N))).astype(dtype)
        W /= W.sum(axis=1, keepdims=True)
        P = np.empty((N, r), dtype=dtype)
        flops = 4.0 * N * N * r
        row = {"N": N, "r": r, "precision": precision}
        for suffix, limit in (("", None), ("_1t", 1)):
            t_force, t_g1, t_g2 = [], [], []
            with threadpool_limits(limit):
                # Small products (below a millisecond) get more repeats.
                for _ in range(repeats * (5 if N * N * r < 5e7 else 1)):
                    start = time.perf_counter()
                    potential.force(U, out=L)
                    t_force.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    np.matmul(U_bare, H.T, out=G)
                    t_g1.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    np.matmul(W, H, out=P)
                    t_g2.append(time.perf_counter() - start)
            force, g1, g2 = min(t_force), min(t_g1), min(t_g2)
            row.update(
                {
                    f"force_ms{suffix}": 1e3 * force,
                    f"force_ms_median{suffix}": 1e3 * float(np.median(t_force)),
                    f"gemm1_ms{suffix}": 1e3 * g1,
                    f"gemm2_ms{suffix}": 1e3 * g2,
                    f"gemms_ms{suffix}": 1e3 * (g1 + g2),
                    f"ratio{suffix}": force / (g1 + g2),
                    f"ratio_median{suffix}": float(np.median(t_force))
                    / (float(np.median(t_g1)) + float(np.median(t_g2))),
                    f"gemm_gflops{suffix}": flops / (g1 + g2) / 1e9,
                }
            )
        log(
            f"  roofline N={N} r={r} {precision}: force {row['force_ms']:.2f} ms, "
            f"GEMMs "
            f"{row['gemms_ms']:.2f} ms, ratio {row['ratio']:.2f}; one thread: "
            f"{row['force_ms_1t']:.2f} / {row['gemms_ms_1t']:.2f} ms, ratio "
            f"{row['ratio_1t']:.2f}"
        )
        out.append(row)
    return out


# ------------------------------------------------------------ c. scaling (worker)
def scaling_worker(N, r):
    """Fit + one realisation of plain PLoM; one JSON line per phase on stdout."""

    X = correlated(N)
    emit_phase("data")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        plom = PLoMSampler(WhiteningPCA(n_components=r), random_state=0).fit(X)
        fit_s = time.perf_counter() - start
    dmap = plom.diffusion_map_
    emit_phase(
        "fit",
        fit_s=fit_s,
        epsilon=dmap.epsilon_,
        epsilon_rule=dmap.epsilon_rule_,
        m=dmap.n_components_,
        n_epsilon=len(dmap.epsilon_search_),
        n_steps=plom.n_steps_,
        warnings=sorted({type(w.message).__name__ for w in caught}),
    )
    start = time.perf_counter()
    plom.sample_whitened(1, random_state=1)
    emit_phase("sample", sample_s=time.perf_counter() - start)


def run_worker(N, r, timeout):
    """Run ``scaling_worker`` in a fresh process, sampling its peak memory."""
    run = run_monitored(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(N), str(r)],
        timeout,
        cwd=ROOT,
    )
    phases = run["phases"]
    row = {
        "N": N,
        "r": r,
        "wall_s": run["wall_s"],
        "peak_mb": run["peak_mb"],
        "data_mb": phases.get("data", {}).get("hwm_mb", np.nan),
        "timed_out": run["timed_out"],
        "returncode": run["returncode"],
        **{k: v for k, v in phases.get("fit", {}).items() if k != "hwm_mb"},
        "fit_peak_mb": phases.get("fit", {}).get("hwm_mb", np.nan),
        "sample_s": phases.get("sample", {}).get("sample_s", np.nan),
    }
    row.setdefault("fit_s", np.nan)
    row["fit_sample_s"] = row["fit_s"] + row["sample_s"]
    if "n_steps" in row and row["sample_s"] == row["sample_s"]:
        row["per_step_s"] = row["sample_s"] / row["n_steps"]
    else:
        row["per_step_s"] = np.nan
    row["outcome"] = outcome(run, timeout)
    if "warnings" in row:
        row["warnings"] = ", ".join(row["warnings"])
    return row


def scaling(max_n, timeout, large_timeout, log):
    rows = []
    cases = [(N, LARGE_R) for N in SCALING_N if max_n >= N]
    cases += [(SCALING_R_N, r) for r in SCALING_R if r != LARGE_R]
    for N, r in cases:
        row = run_worker(N, r, large_timeout if N >= 10000 else timeout)
        log(
            f"  scaling N={N} r={r}: fit {row['fit_s']:.2f} s, one realisation "
            f"{row['sample_s']:.2f} s, peak {row['peak_mb']:.0f} MB ({row['outcome']})"
        )
        rows.append(row)
    return rows


# --------------------------------------------------------- d. parallel realisations
def _probe_threads():
    return blas_threads()


def parallel_backend():
    """How ``PLoMSampler(n_jobs=2)`` runs its realisations, from its source."""
    import inspect

    source = inspect.getsource(skaidm_plom.PLoMSampler._realisations)
    return "threads of this process" if 'prefer="threads"' in source else "loky"


def sampler_threads(plom, n_jobs, main_threads):
    """Batches and BLAS threads of ``PLoMSampler(n_jobs=n_jobs)`` for one call.

    From the sampler's own policy (``skaidm.plom.realisation_batches`` and
    ``realisation_blas_threads``) and the pools probed in this process.
    """
    blas_main = main_threads.get("openblas", main_threads.get("blas"))
    precision = skaidm_plom.FORCE_PRECISIONS[plom.force_precision]
    block = KDEPotential(plom.eta_, precision).block
    sizes = skaidm_plom.realisation_batches(
        PARALLEL_REALISATIONS, plom.eta_.shape[0], block, n_jobs
    )
    limit = skaidm_plom.realisation_blas_threads(n_jobs, len(sizes))
    batches = " + ".join(map(str, sizes))
    if limit is None:
        return f"{batches}; {blas_main} BLAS threads (in this process, default)"
    return f"{batches}; {limit} BLAS thread per batch (threadpoolctl)"


def parallel_cases(datasets, repeats, log):
    out = []
    worker_threads = Parallel(n_jobs=2)(delayed(_probe_threads)() for _ in range(2))
    main_threads = blas_threads()
    cases = [(f"({key}) {label}", X, r) for key, label, X, r in datasets if key in "ac"]
    cases.append(("correlated Gaussian 1000 x 285, r = 285", correlated(1000), 285))
    for label, X, r in cases:
        plom = PLoMSampler(WhiteningPCA(n_components=r), random_state=0).fit(X)
        N, r_used = plom.eta_.shape
        times = {}
        for mode, n_jobs, limit in (("1", 1, None), ("2", 2, None), ("1_1t", 1, 1)):
            plom.set_params(n_jobs=n_jobs)
            plom.sample_whitened(2, random_state=0)  # warm up the workers
            with threadpool_limits(limit):
                t_min, t_med, _ = timed(
                    lambda plom=plom: plom.sample_whitened(
                        PARALLEL_REALISATIONS, random_state=1
                    ),
                    repeats,
                )
            times[mode] = (t_min, t_med)
        row = {
            "case": label,
            "N": N,
            "r": r_used,
            "m": plom.diffusion_map_.n_components_,
            "n_steps": plom.n_steps_,
            "Nr": N * r_used,
            "t1_s": times["1"][0],
            "t1_s_median": times["1"][1],
            "t2_s": times["2"][0],
            "t2_s_median": times["2"][1],
            "t1_1t_s": times["1_1t"][0],
            "speedup": times["1"][0] / times["2"][0],
            "speedup_median": times["1"][1] / times["2"][1],
            "speedup_vs_1t": times["1_1t"][0] / times["2"][0],
            "threads_n_jobs_1": sampler_threads(plom, 1, main_threads),
            "threads_n_jobs_2": sampler_threads(plom, 2, main_threads),
        }
        # Both modes run one batch in this process: the same code path.
        row["same_path"] = row["threads_n_jobs_1"] == row["threads_n_jobs_2"]
        log(
            f"  parallel {label}: n_jobs=1 {row['t1_s']:.2f} s, n_jobs=2 "
            f"{row['t2_s']:.2f} s, speedup {row['speedup']:.2f}"
        )
        out.append(row)
    return out, main_threads, worker_threads


# --------------------------------------------------------------------- the page
def machine_lines():
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "skaidm", "benchmarks"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " with uncommitted changes"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        numpy_blas = f"{blas.get('name')} {blas.get('version')}"
    except (TypeError, KeyError):
        numpy_blas = "unknown"
    pools = "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('prefix')}, "
        f"{i.get('threading_layer', '-')}, {i.get('architecture', '-')}, "
        f"{i.get('num_threads')} threads)"
        for i in threadpool_info()
    )
    return [
        f"- CPU: {cpu}; {os.cpu_count()} logical CPUs ({affinity} usable); "
        f"{platform.platform()}; Python {platform.python_version()}.",
        f"- numpy {np.__version__} (built with {numpy_blas}), scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, pyplom "
        f"{importlib.metadata.version('pyplom')}, skaidm {skaidm.__version__} "
        f"(commit {commit}).",
        f"- Thread pools loaded (threadpoolctl): {pools}.",
    ]


def fmt(value, digits=3, unit=""):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}{unit}"


def verdict(ok):
    return "**met**" if ok else "**not met**"


def targets_table(peers, roof, scale, par, missing):
    lines = [
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for key, label in (
        ("b", "(b) 300 x 285"),
        ("a", "(a) 300 x 50"),
        ("c", "(c) USGS"),
    ):
        sub = [p for p in peers if p["dataset"] == key]
        if not sub:
            continue
        ours = next(p for p in sub if p["method"] == "skaidm")
        theirs = [p for p in sub if p["method"].startswith("pyplom")]
        goal = TARGETS[f"speedup_{key}"]
        measured, verdicts = [], []
        for suffix, mode in (("", "default BLAS threads"), ("_1t", "one BLAS thread")):
            best = min(theirs, key=lambda p, s=suffix: p[f"per_row_us{s}"])
            speedup = best[f"per_row_us{suffix}"] / ours[f"per_row_us{suffix}"]
            measured.append(
                f"{mode}: **{speedup:.1f}x** ({ours[f'per_row_us{suffix}']:.3g} vs "
                f"{best[f'per_row_us{suffix}']:.3g} us per row, {best['method']})"
            )
            verdicts.append(verdict(speedup >= goal))
        lines.append(
            f"| sampling per generated row, {label}: >= {goal:g}x faster than the "
            f"faster pyplom backend at matched settings | {'; '.join(measured)} | "
            f"{' / '.join(verdicts)} (default / one thread) |"
        )
    for x in (x for x in roof if (x["N"], x["r"]) == ROOFLINE_TARGET_SIZE):
        goal = TARGETS["roofline"]
        lines.append(
            f"| one force evaluation <= {goal:g} x its two bare GEMMs "
            f"(N = {x['N']}, r = {x['r']}), {x['precision']} precision (force and "
            f"products) | default BLAS threads: **{x['ratio']:.2f}** "
            f"({x['force_ms']:.1f} vs {x['gemms_ms']:.1f} ms); one BLAS thread: "
            f"**{x['ratio_1t']:.2f}** ({x['force_ms_1t']:.1f} vs "
            f"{x['gemms_ms_1t']:.1f} ms) | {verdict(x['ratio'] <= goal)} / "
            f"{verdict(x['ratio_1t'] <= goal)} (default / one thread) |"
        )
    large = [s for s in scale if s["N"] == SCALING_N[-1] and s["r"] == LARGE_R]
    if large:
        x = large[0]
        total = x["fit_sample_s"]
        done = x["outcome"] == "ok"
        measured = (
            f"{total:.0f} s (fit {x['fit_s']:.0f} s + {x['sample_s']:.0f} s)"
            if done
            else f"did not finish: {x['outcome']}"
            + (f" (fit took {x['fit_s']:.0f} s)" if x["fit_s"] == x["fit_s"] else "")
        )
        lines.append(
            f"| {x['N']} x 285, r = {x['r']}, m = r + 1: fit + one realisation < "
            f"{TARGETS['large_seconds'] / 60:g} min | {measured} | "
            f"{verdict(done and total < TARGETS['large_seconds'])} |"
        )
        peak_gb = x["peak_mb"] / 1024
        lines.append(
            f"| same run: peak resident memory < {TARGETS['large_gb']:g} GB | "
            f"{peak_gb:.2f} GB" + ("" if done else " (up to the kill)") + " | "
            f"{verdict(done and peak_gb < TARGETS['large_gb'])} |"
        )
    else:
        lines.append(
            f"| {SCALING_N[-1]} x 285 fit + one realisation < 10 min, peak < 8 GB | "
            f"not run ({missing}) | **not measured** |"
        )
    if par:
        worst = min(par, key=lambda p: p["speedup"])
        split = [p for p in par if not p["same_path"]]
        same = [p["case"] for p in par if p["same_path"]]
        worst_split = min(split, key=lambda p: p["speedup"]) if split else None
        lines.append(
            f"| `n_jobs=2` never slower than `n_jobs=1` | lowest speedup "
            f"{worst['speedup']:.2f}x ({worst['case']})"
            + (
                f"; where n_jobs=2 shares the realisations out, lowest "
                f"{worst_split['speedup']:.2f}x"
                if worst_split
                else ""
            )
            + (
                f"; {', '.join(same)}: one batch in this process in both modes, "
                "the same code path (a ratio off 1 is timing noise)"
                if same
                else ""
            )
            + f" | {verdict(worst_split is None or worst_split['speedup'] >= 1.0)}"
            + (
                ""
                if worst["speedup"] >= TARGETS["parallel_min"]
                else " (for the shared-out cases)"
            )
            + " |"
        )
        small = [p for p in par if p["Nr"] < 1e5]
        if small:
            worst = min(small, key=lambda p: p["speedup"])
            lines.append(
                f"| `n_jobs=2` >= {TARGETS['parallel_small']:g}x where N r < 1e5 | "
                f"lowest {worst['speedup']:.2f}x ({worst['case']}) | "
                f"{verdict(worst['speedup'] >= TARGETS['parallel_small'])} |"
            )
    return lines


def speedup_ceiling(peers, roof):
    """What the per-row targets ask of the matrix-multiply bound, per data set.

    A realisation-step of any PLoM code computes at least the force's two matrix
    products; a sampler doing nothing else would be faster than pyplom by
    pyplom's step time over the bare products' time, and no faster.
    """
    lines = []
    for key in dict.fromkeys(p["dataset"] for p in peers):
        sub = [p for p in peers if p["dataset"] == key]
        bare = {
            x["precision"]: min(x["gemms_ms"], x["gemms_ms_1t"])
            for x in roof
            if (x["N"], x["r"]) == (sub[0]["N"], sub[0]["r"])
        }
        theirs = [p for p in sub if p["method"].startswith("pyplom")]
        if not ("double" in bare and theirs):
            continue
        best = min(theirs, key=lambda p: p["per_step_ms"])
        ours = {p["method"]: p["per_step_ms"] for p in sub}
        gemms = bare["double"]
        lines.append(
            f"- ({key}) N = {sub[0]['N']}, r = {sub[0]['r']}: the two bare products "
            f"of one realisation take {gemms:.3g} ms in double precision"
            + (f" and {bare['single']:.3g} ms in single" if "single" in bare else "")
            + " (the faster of the two BLAS thread settings)"
            + f"; per realisation-step (default threads) {best['method']} takes "
            f"{best['per_step_ms']:.3g} ms (**{best['per_step_ms'] / gemms:.1f}x** "
            f"the double products), skaidm {ours['skaidm']:.3g} ms "
            f"({ours['skaidm'] / gemms:.2f}x) and skaidm in double precision "
            f"{ours['skaidm (double)']:.3g} ms "
            f"({ours['skaidm (double)'] / gemms:.2f}x)."
        )
    if not lines:
        return []
    return [
        "The per-row targets against the matrix-multiply bound of one realisation, "
        "at the same shapes in this run (the roofline of section b; its products "
        "are timed alone, while a sampler's step also projects, draws noise and "
        "integrates). A sampler that computed one realisation at a time in double "
        "precision and did nothing but the two products would be faster than "
        "pyplom by the first ratio and no more; skaidm gets below that bound by "
        "integrating several realisations in one batch (larger, more efficient "
        "products) and, by default, computing the force in single precision:",
        "",
        *lines,
        "",
    ]


def peer_tables(peers):
    lines = []
    for key in dict.fromkeys(p["dataset"] for p in peers):
        sub = [p for p in peers if p["dataset"] == key]
        s = sub[0]
        lines += [
            f"### ({key}) {s['label']}",
            "",
            f"N = {s['N']}, {s['n_features']} features, r = {s['r']}; epsilon = "
            f"{s['epsilon']:.4g} in the paper's convention (pyplom: "
            f"{s['epsilon_pyplom']:.4g}), m = {s['m']} with the constant vector "
            f"(pyplom: `dmaps_m_override={s['m_pyplom']}`, constant dropped), "
            f"f0 = {s['f0']:g}, dr = {s['dr']:.4g}, {s['n_steps']} steps, "
            f"{s['n_realisations']} realisations = {s['n_realisations'] * s['N']} "
            f"generated rows. With their own bandwidth search the fits take "
            f"{s['fit_auto_s']:.2f} s (skaidm, gap rule) and "
            f"{s['fit_auto_pyplom_s']:.2f} s (pyplom `dmaps_epsilon='auto'`, which "
            f"lands on epsilon = {s['pyplom_auto_epsilon']:.4g} paper units and "
            f"m = {s['pyplom_auto_m']} + constant).",
            "",
            "| method | fit s | sampling s | per generated row, us | per "
            "realisation-step, ms | whitened var min-max | nn ratio | d^2 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p in sub:
            per_step = not p["method"].startswith("sklearn")
            lines.append(
                f"| {p['method']}"
                + (f" (`{p['backend']}`)" if p.get("backend") else "")
                + f" | {fmt(p['fit_s'])} | {fmt(p['sample_s'])} / "
                f"{fmt(p['sample_s_1t'])} | {fmt(p['per_row_us'])} / "
                f"{fmt(p['per_row_us_1t'])} | "
                + (
                    f"{fmt(p['per_step_ms'])} / {fmt(p['per_step_ms_1t'])}"
                    if per_step
                    else "-"
                )
                + f" | {p['var_min']:.2f}-{p['var_max']:.2f} | "
                f"{p['nn_ratio']:.3f} | {fmt(p['d2'])} |"
            )
        ours = next(p for p in sub if p["method"] == "skaidm")
        theirs = next(p for p in sub if p["method"].startswith("pyplom"))
        lines += [
            "",
            f"Same answer? skaidm against pyplom: d^2 {ours['d2']:.3f} vs "
            f"{theirs['d2']:.3f} ({100 * abs(ours['d2'] / theirs['d2'] - 1):.0f}% "
            f"apart), mean whitened variance {ours['var_mean']:.3f} vs "
            f"{theirs['var_mean']:.3f}, nn ratio {ours['nn_ratio']:.3f} vs "
            f"{theirs['nn_ratio']:.3f} (the two pyplom backends give the same "
            "rows to round-off). skaidm's single-precision force against double "
            "precision, same seeds and so the same random numbers: the generated "
            f"rows differ by at most {ours['single_vs_double_max_abs']:.1e} "
            f"(whitened units; the rows reach {ours['rows_max_abs']:.3g}), so "
            "every statistic is the same. Sampling time is 'default threads / one "
            "BLAS thread'.",
            "",
        ]
    return lines


def roofline_table(roof):
    lines = [
        "| N | r | precision | BLAS threads | force, ms | U @ H.T, ms | W @ H, ms | "
        "force / GEMMs (min) | (median) | GEMM GFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in roof:
        for suffix, mode in (("", "default"), ("_1t", "1")):
            lines.append(
                f"| {x['N']} | {x['r']} | {x['precision']} | {mode} | "
                f"{x['force_ms' + suffix]:.2f} | "
                f"{x['gemm1_ms' + suffix]:.2f} | {x['gemm2_ms' + suffix]:.2f} | "
                f"{x['ratio' + suffix]:.2f} | {x['ratio_median' + suffix]:.2f} | "
                f"{x['gemm_gflops' + suffix]:.1f} |"
            )
    return lines


def scaling_table(rows):
    lines = [
        "| N | r | epsilon (rule, evaluations) | m | steps | fit s | one "
        "realisation s | per step s | peak RSS MB | RSS after data MB | outcome |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        eps = (
            f"{x['epsilon']:.4g} ({x['epsilon_rule']}, {x['n_epsilon']})"
            if "epsilon" in x
            else "-"
        )
        lines.append(
            f"| {x['N']} | {x['r']} | {eps} | {x.get('m', '-')} | "
            f"{x.get('n_steps', '-')} | {fmt(x['fit_s'])} | {fmt(x['sample_s'])} | "
            f"{fmt(x['per_step_s'])} | {x['peak_mb']:.0f} | {fmt(x['data_mb'], 4)} | "
            f"{x['outcome']}"
            + (f"; warnings: {x['warnings']}" if x.get("warnings") else "")
            + " |"
        )
    return lines


def growth_lines(rows, var):
    """Least-squares exponent of time in N (or r) on the completed runs."""
    ok = sorted((x for x in rows if x["outcome"] == "ok"), key=lambda x: x[var])
    if len(ok) < 3:
        return []
    x = np.log([row[var] for row in ok])
    parts = []
    for key, name in (
        ("fit_s", "fit"),
        ("sample_s", "one realisation"),
        ("per_step_s", "one step"),
        ("peak_mb", "peak memory"),
    ):
        y = np.log([row[key] for row in ok])
        parts.append(f"{name} ~ {var}^{np.polyfit(x, y, 1)[0]:.2f}")
    return [
        f"Fitted exponents over {var} = {ok[0][var]}..{ok[-1][var]} (least squares "
        f"in log-log, completed runs only): {', '.join(parts)}.",
        "",
    ]


def parallel_table(par):
    lines = [
        "| case | N | r | m | steps | n_jobs=1: batches; threads | n_jobs=2: "
        "batches; threads | n_jobs=1 s | n_jobs=2 s | speedup (min) | "
        "(median) | n_jobs=1 under threadpool_limits(1), s | speedup over it |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in par:
        lines.append(
            f"| {x['case']} | {x['N']} | {x['r']} | {x['m']} | {x['n_steps']} | "
            f"{x['threads_n_jobs_1']} | {x['threads_n_jobs_2']} | "
            f"{x['t1_s']:.2f} | {x['t2_s']:.2f} | {x['speedup']:.2f} | "
            f"{x['speedup_median']:.2f} | {x['t1_1t_s']:.2f} | "
            f"{x['speedup_vs_1t']:.2f} |"
        )
    return lines


# ----------------------------------------------------------------------- figures
def figure_scaling(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted((x for x in rows if x["r"] == LARGE_R), key=lambda x: x["N"])
    by_n = [x for x in rows if x["outcome"] == "ok"]
    failed = [x for x in rows if x["outcome"] != "ok"]
    if not rows:
        return False
    N = np.array([x["N"] for x in by_n], dtype=float)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 5.2))
    if by_n:
        samp = np.array([x["sample_s"] for x in by_n])
        ax.loglog(
            N, [x["fit_s"] for x in by_n], "o-", label="fit (incl. epsilon search)"
        )
        ax.loglog(N, samp, "s-", label="one realisation (N new rows)")
        ax.loglog(N, [x["per_step_s"] for x in by_n], "^-", label="one ISDE step")
        ax.loglog(N, samp[0] * (N / N[0]) ** 2, "k:", lw=1, label="slope 2 (N$^2$)")
        bx.loglog(
            N,
            np.array([x["peak_mb"] for x in by_n]) / 1024,
            "o-",
            color="tab:purple",
            label="peak resident memory",
        )
    for x in failed:
        ax.loglog(x["N"], x["wall_s"], "rX", ms=10)
        ax.annotate(
            f"killed at {x['wall_s']:.0f} s,\nfit unfinished",
            (x["N"], x["wall_s"]),
            textcoords="offset points",
            xytext=(-8, -28),
            ha="right",
            fontsize=8,
            color="tab:red",
        )
        bx.loglog(x["N"], x["peak_mb"] / 1024, "rX", ms=10)
        bx.annotate(
            "up to the kill",
            (x["N"], x["peak_mb"] / 1024),
            textcoords="offset points",
            xytext=(-8, -14),
            ha="right",
            fontsize=8,
            color="tab:red",
        )
    all_n = np.array([x["N"] for x in rows], dtype=float)
    bx.loglog(all_n, all_n**2 * 8 / 1024**3, "k:", lw=1, label="one N x N float64")
    for axis, level, text in ((ax, 600, "10 min target"), (bx, 8, "8 GB target")):
        axis.axhline(level, color="tab:red", lw=0.8, ls="--")
        axis.text(all_n[0], level * 1.12, text, color="tab:red", fontsize=8)
        axis.set_xticks(all_n, [f"{n:.0f}" for n in all_n])
        axis.minorticks_off()
        axis.set_xlabel("N, training rows (285 bands, r = 50, m = 51)")
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.set_ylabel("wall time, s (log scale)")
    ax.set_title("Time vs N (one run per size, fresh process)")
    bx.set_ylabel("memory, GB (log scale)")
    bx.set_title("Peak memory vs N (VmHWM of the process)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def figure_peers(peers, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(p["dataset"] for p in peers))
    bars = [
        ("skaidm", "skaidm (single-precision force)", "tab:blue"),
        ("skaidm (double)", "skaidm, force_precision='double'", "tab:cyan"),
        ("pyplom C++ (Eigen)", "pyplom, C++ force", "tab:orange"),
        ("pyplom Python", "pyplom, Python force", "tab:green"),
    ]
    labels = []
    for key in keys:
        p = next(p for p in peers if p["dataset"] == key)
        labels.append(f"({key}) N = {p['N']:.0f}\nr = {p['r']:.0f}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    width = 0.2
    for ax, (suffix, title) in zip(
        axes,
        (("", "default BLAS threads"), ("_1t", "one BLAS thread")),
        strict=True,
    ):
        for j, (method, name, color) in enumerate(bars):
            values = []
            for key in keys:
                match = [
                    p for p in peers if p["dataset"] == key and p["method"] == method
                ]
                values.append(match[0][f"per_step_ms{suffix}"] if match else np.nan)
            xs = np.arange(len(keys)) + (j - 1.5) * width
            ax.bar(xs, values, width, color=color, label=name)
            for x, v in zip(xs, values, strict=True):
                if np.isfinite(v):
                    ax.text(x, v * 1.08, f"{v:.3g}", ha="center", fontsize=7)
        ax.set_xticks(np.arange(len(keys)), labels)
        ax.set_yscale("log")
        ax.set_title(f"sampling, {title}")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("time per realisation-step, ms (log scale)")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "Matched settings, same data, one process (minimum of repeats)", fontsize=11
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -------------------------------------------------------------------------- main
def write_csv(path, sections):
    with open(path, "w") as f:
        f.write("section,case,quantity,value\n")
        for section, rows, case_keys in sections:
            for row in rows:
                case = " ".join(f"{k}={row[k]}" for k in case_keys).replace(",", ";")
                for key, value in row.items():
                    if key in case_keys or key == "label":
                        continue
                    text = str(value).replace(",", ";").replace("\n", " ")
                    f.write(f"{section},{case},{key},{text}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-n",
        type=int,
        default=SCALING_N[-1],
        help="largest N of the scaling study (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--realisations", type=int, default=N_REALISATIONS)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="per scaling case, N < 10000"
    )
    parser.add_argument(
        "--large-timeout",
        type=float,
        default=720.0,
        help="per scaling case, N >= 10000 (the 20000 run)",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to skip: peers,roofline,scaling,parallel",
    )
    parser.add_argument("--output", type=Path, default=DOCS / "performance.md")
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        scaling_worker(*args.worker)
        return 0

    skip = set(filter(None, args.skip.split(",")))
    start = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc)

    def log(msg):
        print(f"[{time.perf_counter() - start:7.1f} s] {msg}", flush=True)

    machine = machine_lines()
    for line in machine:
        log(line)
    datasets = peer_datasets()
    peers, roof, scale, par = [], [], [], []
    main_threads, worker_threads = blas_threads(), []
    if "peers" not in skip:
        log("a. peers at matched settings")
        for key, label, X, r in datasets:
            peers += peer_case(key, label, X, r, args.realisations, args.repeats, log)
    if "roofline" not in skip:
        log("b. roofline")
        roof = roofline(ROOFLINE_SIZES, max(5, 3 * args.repeats), log)
    if "parallel" not in skip:
        log("d. parallel realisations")
        par, main_threads, worker_threads = parallel_cases(datasets, args.repeats, log)
    if "scaling" not in skip:
        log("c. scaling, one fresh process per size")
        scale = scaling(args.max_n, args.timeout, args.large_timeout, log)
    seconds = time.perf_counter() - start

    # Figures beside the page (docs/img for the default output).
    img = args.output.parent / "img"
    img.mkdir(parents=True, exist_ok=True)
    have_scaling_png = scale and figure_scaling(scale, img / "performance-scaling.png")
    if peers:
        figure_peers(peers, img / "performance-peers.png")
    write_page(
        args,
        started,
        seconds,
        machine,
        peers,
        roof,
        scale,
        par,
        main_threads,
        worker_threads,
        have_scaling_png,
    )
    write_csv(
        args.output.with_suffix(".csv"),
        [
            ("peers", peers, ("dataset", "method")),
            ("roofline", roof, ("N", "r", "precision")),
            ("scaling", scale, ("N", "r")),
            ("parallel", par, ("case",)),
        ],
    )
    log(f"wrote {args.output} and {args.output.with_suffix('.csv')}")
    return 0


def write_page(
    args,
    started,
    seconds,
    machine,
    peers,
    roof,
    scale,
    par,
    main_threads,
    worker_threads,
    have_scaling_png,
):
    command = "python benchmarks/performance.py" + "".join(
        f" --{name.replace('_', '-')} {value:g}"
        for name, value, default in (
            ("max_n", args.max_n, SCALING_N[-1]),
            ("repeats", args.repeats, REPEATS),
            ("realisations", args.realisations, N_REALISATIONS),
        )
        if value != default
    )
    lines = [
        "# Performance: speed and memory",
        "",
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC in "
        f"{seconds / 60:.0f} minutes. Every number and verdict below comes from "
        "that run.",
        "",
        *machine,
        f"- Thread pools during the timings: {json.dumps(main_threads)} in the main "
        "process (the default: one per core); a joblib (loky) worker starts with "
        f"{json.dumps(worker_threads[0]) if worker_threads else '-'} (probed inside "
        "a worker). Parallel realisations: see section d.",
        "",
        "The machine has two cores shared with other work, so timings are noisy. "
        "Every ratio compares quantities measured in the same run; each time is the "
        f"**minimum** over {args.repeats} repeats (the roofline: over "
        f"{max(5, 3 * args.repeats)} interleaved repeats) unless a column says "
        "median. The scaling study runs each size once, in a fresh process.",
        "",
        "## Targets",
        "",
        *targets_table(
            peers,
            roof,
            scale,
            par,
            "scaling skipped" if "scaling" in args.skip else f"--max-n {args.max_n}",
        ),
        "",
        *speedup_ceiling(peers, roof),
    ]
    if peers:
        lines += [
            "## a. Side by side at matched settings",
            "",
            "![per-step time](img/performance-peers.png)",
            "",
            "Same data, same process. skaidm (`PLoMSampler`) and pyplom 2.0.1 get the "
            "same whitened dimension r, the same bandwidth (skaidm's gap rule, found "
            "once beforehand, then passed to both: pyplom's kernel is "
            "exp(-d^2/eps), so it gets 4 epsilon), the same basis size (pyplom drops "
            "the constant vector, so `dmaps_m_override` is m - 1: its span lacks the "
            "constant vector, the only difference left), the same f0, the same "
            "Delta r and number of steps (pyplom's `ito_dr` and `ito_steps` are "
            "constructor parameters: pyplom is set to skaidm's 2 pi s_hat / 20 and "
            "its 4 ln 100 / (f0 Delta r) steps, rather than the other way round) "
            "and the same number of realisations, each from the training data with "
            "fresh noise. pyplom runs without its own scaling "
            "(`use_scaling=False`) on the same input. Both backends of pyplom's "
            "force are timed: the prebuilt C++ library (`potential_eigen.so`, "
            "single-threaded) and its NumPy path; both with `n_jobs=1`, as skaidm. "
            "skaidm integrates the realisations of one call together (their "
            "particles stacked into one force evaluation per step, "
            "`skaidm.plom.realisation_batches`) and computes the force and the "
            "projections in single precision by default; 'skaidm (double)' is "
            "`force_precision='double'`, same seeds. "
            "Sampling times include decoding to the input space. Sampling is "
            "timed twice, 'default / one thread': with the default BLAS threads "
            "and under `threadpool_limits(1)` (a like-for-like match for the "
            "single-threaded C++ force, and immune to the oversubscription of "
            "two BLAS threads on two busy cores); fits use the default threads. "
            f"skaidm's sampling times are the minimum over {3 * args.repeats} "
            f"repeats, pyplom's over {max(1, args.repeats - 1)} (they take most "
            "of the run).",
            "",
            "scikit-learn's KernelDensity (bandwidth s_hat on the rows shrunk by "
            "s_hat / s: exactly the density PLoM's unprojected ISDE samples) and "
            "GaussianMixture (full covariance, k in {1, 2, 4, 8} by BIC, the "
            "selection included in the fit time) are fitted on skaidm's whitened "
            "training rows and draw as many rows.",
            "",
            "Statistics (PLOM_SPEC section 9) of the generated rows in skaidm's "
            "whitened coordinates (pyplom's output is mapped there by skaidm's "
            "whitening; both span the same principal subspace): the range of the "
            "per-coordinate variances; the nn ratio, median distance of a generated "
            "row to its nearest training row over the median nearest-neighbour "
            "distance within the training rows; d^2 = E ||H - eta||_F^2 / "
            "||eta||_F^2 over the realisations (row j of a realisation belongs to "
            "training row j; undefined for the scikit-learn models). At matched "
            "settings skaidm and pyplom should agree to the noise of "
            f"{args.realisations} realisations; PLOM_SPEC section 9 measured "
            "var 0.58-0.70, nn ratio 0.33 and d^2 = 0.131 on (a).",
            "",
            *peer_tables(peers),
        ]
    if roof:
        lines += [
            "## b. Roofline: the force against its two matrix products",
            "",
            "`KDEPotential(eta).force(U)` for N particles in r whitened dimensions "
            "is two matrix products, `U @ H.T` (N x r by r x N) and `W @ H` (N x N "
            "by N x r), around a row-wise softmax; 4 N^2 r flops. The table times "
            "the force and the two bare products of the same shapes (the force "
            "computes its logits in blocks of rows when N x N is large; the bare "
            "products do not), interleaved in one loop, once with the default BLAS "
            "threads and once under `threadpool_limits(1)`; the ratio compares "
            "minima (and medians). eta and U are random normal. Each size is "
            "timed in both precisions of the force (`KDEPotential(eta, dtype)`), "
            "against bare products in the same precision: single precision also "
            "shifts each row of logits by its maximum, one more pass over the "
            "N x N block than in double (see `KDEPotential`).",
            "",
            *roofline_table(roof),
            "",
        ]
    if par:
        lines += [
            "## d. Parallel realisations",
            "",
            f"`PLoMSampler(n_jobs=1)` against `n_jobs=2` (joblib, with the "
            f"sampler's own backend preference: {parallel_backend()}), "
            f"{PARALLEL_REALISATIONS} realisations, after a warm-up call that starts "
            "the workers; default gap rule fits. The realisations of a call run in "
            "batches (`skaidm.plom.realisation_batches`): with two workers they are "
            "shared out evenly unless a worker's batch would hold fewer than "
            f"{skaidm_plom.PARALLEL_MIN_BATCH_ENTRIES:.3g} kernel entries per step "
            "(particles x N), in which case they run in one batch in this process "
            "with every BLAS thread (it is faster: see the constant's comment in "
            "`skaidm/plom.py`); the batch sizes and BLAS threads of each mode are "
            "in the table. The targets compare the two timing columns (the sampler "
            "as it runs by default); the last two columns add `n_jobs=1` "
            "restricted to one BLAS thread, for reference.",
            "",
            *parallel_table(par),
            "",
        ]
    if scale:
        lines += [
            "## c. Growth with N and r, and peak memory",
            "",
            "Plain PLoM with the defaults (`PLoMSampler(WhiteningPCA(n_components=r))`"
            ": gap rule for epsilon, m = r + 1, f0 = 4) on the correlated Gaussian "
            "with C_ij = 0.98^|i-j| over 285 bands, `default_rng(5)`; fit, then one "
            "realisation (`sample_whitened(1)`, N new rows). Each size runs once in "
            "a fresh Python process; the peak resident memory is the process's "
            "high-water mark `VmHWM` (/proc/<pid>/status), reported by the process "
            "after each phase and sampled every 0.5 s by the parent, so it is known "
            "even for a killed run (not `ru_maxrss`, which Linux carries over "
            "`execve` from the parent at fork time); 'RSS after data' is the same "
            "measure right after the data were drawn (interpreter, numpy, scipy, "
            "scikit-learn and X). "
            f"Cases with N >= 10000 are killed after {args.large_timeout:.0f} s, the "
            f"others after {args.timeout:.0f} s.",
            "",
        ]
        if have_scaling_png:
            lines += ["![time and memory vs N](img/performance-scaling.png)", ""]
        lines += [
            f"### Growth with N (r = {LARGE_R})",
            "",
            *scaling_table([x for x in scale if x["r"] == LARGE_R]),
            "",
            *growth_lines([x for x in scale if x["r"] == LARGE_R], "N"),
            f"### Growth with r (N = {SCALING_R_N})",
            "",
            *scaling_table(
                sorted(
                    (x for x in scale if x["N"] == SCALING_R_N), key=lambda x: x["r"]
                )
            ),
            "",
            *growth_lines([x for x in scale if x["N"] == SCALING_R_N], "r"),
            "Beyond 20,000 rows the diffusion map switches to a landmark (Nystrom) "
            "basis by default (`AnisotropicDiffusionMap(n_landmarks='auto')`), so "
            "no N x N matrix is formed: [the landmark evidence](landmarks.md) "
            "measures a 50,000-row fit and realisation, and the landmark basis "
            "against the dense one where both fit.",
            "",
        ]
    lines += [
        "## Observations on pyplom 2.0.1",
        "",
        "- Its force backend is a process-wide global: once any `PLoM` has loaded "
        "the C++ library, `ito_potential_method='python'` is silently ignored "
        "(`compute_potential` uses the library whenever it is loaded). This page "
        "resets that global to time each backend.",
        "- `ito_dr` and `ito_steps` are constructor parameters (defaults 0.1 and "
        "'auto' = floor(4 ln 100 / (f0 dr)) + 1), so Delta r can be matched; the "
        "C++ library ships prebuilt in the wheel (`plom/lib/*.so`), nothing is "
        "compiled at install.",
        "- Its PCA diagonalises the n x n covariance and its diffusion map takes two "
        "full `eigh` of the N x N operator per fit, even with a given epsilon.",
        "",
    ]
    args.output.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
