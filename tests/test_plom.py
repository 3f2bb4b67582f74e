"""PLoMSampler and its integrator: PLOM_SPEC facts F2, F3, F6-F10, F13."""

import math

import joblib
import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.base import clone
from threadpoolctl import threadpool_info, threadpool_limits

import skaidm.plom
from skaidm import (
    AnisotropicDiffusionMap,
    AttentionPreconditioner,
    PLoMSampler,
    WhiteningPCA,
)
from skaidm._isde import (
    KDEPotential,
    auto_n_steps,
    canonical_basis,
    integrate,
    kde_bandwidths,
)
from skaidm.plom import (
    PARALLEL_BLAS_THREADS,
    realisation_batches,
    realisation_blas_threads,
)

# --------------------------------------------------------------- F2, F3


@pytest.mark.parametrize(
    ("n", "r", "s", "s_hat"),
    [
        (400, 9, 0.58350787, 0.50445412),
        (200, 3, 0.4543988, 0.4145522),
        (300, 50, 0.8580228, 0.6518022),
    ],
)
def test_F3_bandwidths(n, r, s, s_hat):
    s_out, s_hat_out = kde_bandwidths(n, r)
    assert s_out == pytest.approx(s, abs=5e-8)
    assert s_hat_out == pytest.approx(s_hat, abs=5e-8)


def test_F3_step_size_and_steps():
    _, s_hat = kde_bandwidths(400, 9)
    dr = 2 * math.pi * s_hat / 20
    assert dr == pytest.approx(0.15847894, abs=5e-9)
    # M0_est = 29.06 for f0 = 4; the sampler rounds up.
    assert 4 * math.log(100) / (4 * dr) == pytest.approx(29.06, abs=5e-3)
    assert auto_n_steps(4.0, dr) == 30


def test_F2_kde_mixture_is_normalised(correlated_gaussian):
    eta = WhiteningPCA().fit_transform(correlated_gaussian)
    pot = KDEPotential(eta)
    n, r = eta.shape
    # Mixture mean and covariance: s_hat^2 I + (s_hat/s)^2 (N-1)/N C_hat = I.
    mean = pot.H.mean(axis=0)
    cov = pot.s_hat**2 * np.eye(r) + pot.H.T @ pot.H / n - np.outer(mean, mean)
    np.testing.assert_allclose(mean, 0, atol=1e-14)
    np.testing.assert_allclose(cov, np.eye(r), atol=2e-13)


# ------------------------------------------------------------------- F6


def reference_log_q(u, H, s_hat):
    d2 = ((H - u) ** 2).sum(axis=1)
    return logsumexp(-d2 / (2 * s_hat**2)) - math.log(len(H))


def test_F6_force_is_gradient_of_log_q(helix, rng):
    eta = WhiteningPCA().fit_transform(helix)
    pot = KDEPotential(eta)
    U = eta[:5] + 0.3 * rng.standard_normal((5, 3))
    L = pot.force(U)
    h = 1e-5
    for i in range(5):
        grad = np.empty(3)
        for k in range(3):
            e = np.zeros(3)
            e[k] = h
            grad[k] = (
                reference_log_q(U[i] + e, pot.H, pot.s_hat)
                - reference_log_q(U[i] - e, pot.H, pot.s_hat)
            ) / (2 * h)
        np.testing.assert_allclose(L[i], grad, atol=1e-8)


def test_F6_force_far_from_data_is_finite_at_r_285():
    rng = np.random.default_rng(0)
    eta = WhiteningPCA().fit_transform(rng.normal(size=(400, 285)))
    assert eta.shape[1] == 285
    pot = KDEPotential(eta)
    far = 50.0 * rng.standard_normal((3, 285))
    L = pot.force(far)
    assert np.all(np.isfinite(L))
    # It points to the nearest shrunk data point.
    for i in range(3):
        j = np.argmin(((pot.H - far[i]) ** 2).sum(1))
        expected = (pot.H[j] - far[i]) / pot.s_hat**2
        np.testing.assert_allclose(L[i], expected, rtol=1e-9)


def test_force_blocking_changes_nothing(correlated_gaussian):
    eta = WhiteningPCA().fit_transform(correlated_gaussian)
    pot = KDEPotential(eta)
    U = eta + 0.1
    full = pot.force(U)
    pot.block = 7  # many small blocks
    np.testing.assert_allclose(pot.force(U), full, rtol=1e-13, atol=1e-13)


def test_log_density_matches_reference(helix):
    eta = WhiteningPCA().fit_transform(helix)
    pot = KDEPotential(eta)
    U = eta[:4] * 1.3
    r = 3
    expected = [
        reference_log_q(u, pot.H, pot.s_hat)
        - 0.5 * r * math.log(2 * math.pi * pot.s_hat**2)
        for u in U
    ]
    np.testing.assert_allclose(pot.log_density(U), expected, rtol=1e-12)


# ------------------------------------------------------------------- F7


def test_F7_span_invariance_with_the_same_random_numbers(helix):
    eta = WhiteningPCA().fit_transform(helix)
    dmap = AnisotropicDiffusionMap(epsilon=5.5, n_components=4).fit(eta)
    g = dmap.embedding_
    T = np.random.default_rng(3).normal(size=(4, 4)) + 2 * np.eye(4)
    pot = KDEPotential(eta)
    out = []
    for basis in (g, g @ T, dmap.eigenvectors_):
        Q = canonical_basis(basis)
        out.append(
            integrate(
                pot,
                eta,
                Q,
                f0=4.0,
                dr=0.13,
                n_steps=36,
                rngs=[np.random.default_rng(11)],
            )
        )
    np.testing.assert_allclose(out[1], out[0], atol=1e-9)
    np.testing.assert_allclose(out[2], out[0], atol=1e-9)
    # The realisation moved away from the data: the comparison has power.
    assert np.abs(out[0][0] - eta).max() > 0.1


def test_unprojected_integrator_stays_near_data_with_no_steps(helix):
    eta = WhiteningPCA().fit_transform(helix)
    Q = np.eye(len(eta))
    (H,) = integrate(
        KDEPotential(eta),
        eta,
        Q,
        f0=4.0,
        dr=0.1,
        n_steps=0,
        rngs=[np.random.default_rng(0)],
    )
    np.testing.assert_allclose(H, eta, atol=1e-13)


# ------------------------------------------------------------------- F9


def test_F9_reproducibility(helix):
    plom = PLoMSampler(random_state=0).fit(helix)
    a = plom.sample_whitened(3, random_state=5)
    b = plom.sample_whitened(3, random_state=5)
    np.testing.assert_array_equal(a, b)
    # Each realisation differs from the others.
    assert not np.allclose(a[0], a[1])
    assert not np.allclose(a[1], a[2])


# ------------------------------------------------------- BLAS threads


def blas_threads():
    return {
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    }


def test_realisation_blas_threads_rule():
    assert realisation_blas_threads(1, 10) is None
    assert realisation_blas_threads(None, 10) is None
    assert realisation_blas_threads(2, 10) == PARALLEL_BLAS_THREADS == 1
    # A single realisation has nothing to share the cores with.
    assert realisation_blas_threads(2, 1) is None
    with joblib.parallel_config(n_jobs=2):
        assert realisation_blas_threads(None, 3) == 1


@pytest.mark.parametrize(
    ("n_real", "n", "n_jobs", "sizes"),
    [
        # One worker: batches fill one force block (2**24 // n rows).
        (10, 300, 1, [10]),
        (400, 300, 1, [186, 186, 28]),
        (3, 20000, 1, [1, 1, 1]),
        # Two workers share the realisations out evenly...
        (8, 860, 2, [4, 4]),
        (24, 300, 2, [12, 12]),
        (5, 20000, 2, [1, 1, 1, 1, 1]),
        # ...but not into batches below 2**20 kernel entries per step (8 x 300^2
        # = 7.2e5): those run together in this process.
        (8, 300, 2, [8]),
    ],
)
def test_realisation_batches(n_real, n, n_jobs, sizes):
    block = KDEPotential(np.zeros((n, 1))).block
    got = realisation_batches(n_real, n, block, n_jobs)
    assert got == sizes
    assert sum(got) == n_real
    assert max(got) * n <= max(block, n)


@pytest.mark.parametrize(
    ("n_jobs", "backend", "inside", "sizes"),
    [(1, "threading", 2, [3]), (2, "threading", 1, [2, 1]), (2, "sequential", 2, [3])],
)
def test_blas_limit_in_workers_and_restored(
    helix, monkeypatch, n_jobs, backend, inside, sizes
):
    # Share even this small problem out (see test_realisation_batches).
    monkeypatch.setattr(skaidm.plom, "PARALLEL_MIN_BATCH_ENTRIES", 1)
    """One BLAS thread per realisation when they run side by side, then restored.

    The sequential backend runs one realisation at a time: all threads.
    """
    if not blas_threads():
        pytest.skip("no BLAS visible to threadpoolctl")
    seen = []
    original = skaidm.plom.integrate

    def recording(*args, **kwargs):
        seen.append((blas_threads(), len(kwargs["rngs"])))
        return original(*args, **kwargs)

    monkeypatch.setattr(skaidm.plom, "integrate", recording)
    plom = PLoMSampler(n_jobs=n_jobs, random_state=0).fit(helix)
    with threadpool_limits(limits=2, user_api="blas"):
        with joblib.parallel_config(backend=backend):
            got = plom.sample_whitened(3, random_state=1)
        assert blas_threads() == {2}
    # One batch per worker share: 3 with one worker, 2 + 1 with two (in either
    # order: threads).
    assert sorted(seen, key=lambda call: call[1]) == [
        ({inside}, size) for size in sorted(sizes)
    ]
    expected = PLoMSampler(n_jobs=1, random_state=0).fit(helix)
    np.testing.assert_allclose(
        got, expected.sample_whitened(3, random_state=1), rtol=1e-10, atol=1e-12
    )


def test_parallel_realisations_prefer_threads(helix, monkeypatch):
    """Without a joblib context, n_jobs=2 runs realisations in threads here."""
    import os
    import threading

    seen = []
    original = skaidm.plom.integrate

    def recording(*args, **kwargs):
        seen.append((os.getpid(), threading.get_ident()))
        return original(*args, **kwargs)

    monkeypatch.setattr(skaidm.plom, "integrate", recording)
    monkeypatch.setattr(skaidm.plom, "PARALLEL_MIN_BATCH_ENTRIES", 1)
    plom = PLoMSampler(n_jobs=2, random_state=0).fit(helix)
    plom.sample_whitened(3, random_state=1)
    assert len(seen) == 2  # batches of 2 and 1 realisations
    assert {pid for pid, _ in seen} == {os.getpid()}
    assert threading.get_ident() not in {ident for _, ident in seen}


# ------------------------------------------------------------------ F10


@pytest.mark.parametrize(
    ("name", "mean_band", "dim_band"),
    [("helix", (0.72, 0.82), (0.6, 0.9)), ("gaussian", (0.60, 0.70), (0.5, 0.8))],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_F10_variance_shrinks_as_published(spec_sets, name, mean_band, dim_band, seed):
    X = spec_sets[0] if name == "helix" else spec_sets[1]
    plom = PLoMSampler(random_state=seed).fit(X)
    assert plom.diffusion_map_.n_components_rule_ == "gap"
    H = plom.sample_whitened(10).reshape(-1, X.shape[1])
    var = H.var(axis=0, ddof=1)
    # Bands from PLOM_SPEC F10 (measured over seeds 0-2 with f0 in {1.5, 4}); with
    # 10 realisations the mean over dimensions has a Monte Carlo std of ~0.01.
    assert mean_band[0] <= var.mean() <= mean_band[1]
    assert dim_band[0] <= var.min()
    assert var.max() <= dim_band[1]
    # Never cov = I: the projection concentrates the samples.
    assert var.mean() < 0.9
    np.testing.assert_allclose(H.mean(axis=0), 0, atol=0.1)


def test_F10_concentration_distance(correlated_gaussian):
    plom = PLoMSampler(random_state=0).fit(correlated_gaussian)
    H = plom.sample_whitened(10)
    d2 = np.mean([np.sum((h - plom.eta_) ** 2) for h in H]) / np.sum(plom.eta_**2)
    # Reference 0.131 (PLOM_SPEC section 9); d^2(N) for g = I is about 0.49.
    assert 0.11 <= d2 <= 0.15


# ------------------------------------------------------------------ F13


def test_F13_output_size_and_subspace(correlated_gaussian):
    plom = PLoMSampler(whitening=WhiteningPCA(n_components=10), random_state=0)
    plom.fit(correlated_gaussian)
    H = plom.sample_whitened(2)
    assert H.shape == (2, 300, 10)
    X_new = plom.sample(650, random_state=0)
    assert X_new.shape == (650, 50)
    w = plom.whitening_
    centred = X_new - w.mean_
    residual = centred - centred @ w.components_.T @ w.components_
    assert np.abs(residual).max() <= 1e-10 * np.abs(centred).max()


# --------------------------------------------------------- Options A / B


def test_option_a_at_full_rank_samples_plain_plom(correlated_gaussian):
    X = correlated_gaussian
    w = np.random.default_rng(4).uniform(0.05, 1.0, X.shape[1])
    pre = AttentionPreconditioner(weights=w).fit(X)
    plain = PLoMSampler(random_state=0).fit(X)
    option_a = PLoMSampler(random_state=0).fit(pre.transform(X))
    dp, da = plain.diffusion_map_, option_a.diffusion_map_
    # Same kernel spectrum and rule outcome, the same span (projectors).
    assert da.n_components_ == dp.n_components_
    assert da.epsilon_ == pytest.approx(dp.epsilon_, rel=1e-6)
    np.testing.assert_allclose(da.eigenvalues_, dp.eigenvalues_, atol=1e-12)
    np.testing.assert_allclose(
        option_a.basis_ @ option_a.basis_.T, plain.basis_ @ plain.basis_.T, atol=1e-8
    )
    # Same distribution of generated spectra in the input units: moments agree
    # within Monte Carlo error (4 realisations of 300 rows each).
    Xp = plain.sample(1200, random_state=1)
    Xa = pre.inverse_transform(option_a.sample(1200, random_state=2))
    se = X.std(axis=0) / math.sqrt(1200)
    assert np.max(np.abs(Xp.mean(0) - Xa.mean(0)) / se) < 6
    np.testing.assert_allclose(Xa.std(0), Xp.std(0), rtol=0.1)


def test_option_b_changes_the_basis(correlated_gaussian):
    X = correlated_gaussian
    w = np.random.default_rng(4).uniform(0.05, 1.0, X.shape[1])
    diffusion = AnisotropicDiffusionMap(epsilon="knn", n_components="reconstruction")
    plain = PLoMSampler(diffusion_map=diffusion, random_state=0).fit(X)
    option_b = PLoMSampler(
        diffusion_map=diffusion,
        kernel_attention=AttentionPreconditioner(weights=w),
        random_state=0,
    ).fit(X)
    R = option_b.diffusion_map_.metric
    assert R.shape == (50, 50)
    assert np.trace(R.T @ R) == pytest.approx(50)
    # The data, the KDE and the force stay isotropic: same eta.
    np.testing.assert_array_equal(option_b.eta_, plain.eta_)
    assert not np.allclose(
        option_b.diffusion_map_.eigenvalues_[:10],
        plain.diffusion_map_.eigenvalues_[:10],
    )


# --------------------------------------------------------- estimator API


def test_transform_and_inverse_transform(helix):
    plom = PLoMSampler(random_state=0).fit(helix)
    G = plom.transform(helix)
    np.testing.assert_allclose(G, plom.diffusion_map_.embedding_, atol=1e-12)
    back = plom.inverse_transform(G)
    # The decoder reproduces the projection of the whitened data on span(g), whose
    # relative error (in whitened units) the diffusion map records.
    eta = plom.eta_
    err = np.linalg.norm(plom.whitening_.transform(back) - eta) / np.linalg.norm(eta)
    assert err == pytest.approx(plom.diffusion_map_.reconstruction_error_, rel=1e-6)


def test_score_samples_is_the_whitened_kde(helix):
    plom = PLoMSampler(random_state=0).fit(helix)
    eta = plom.whitening_.transform(helix[:5])
    pot = KDEPotential(plom.eta_)
    np.testing.assert_allclose(plom.score_samples(helix[:5]), pot.log_density(eta))
    assert plom.score(helix[:5]) == pytest.approx(pot.log_density(eta).mean())


def test_verbose_logs_progress(helix, caplog, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    plom = PLoMSampler(verbose=1, random_state=0).fit(helix)
    with caplog.at_level("INFO", logger="skaidm.plom"):
        plom.sample(450)
    assert "PLoM realisations: 3/3" in caplog.text


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"f0": 0.0}, "f0=0.0 must be a positive"),
        ({"fac": -1}, "fac=-1 must be a positive"),
        ({"n_steps": 0}, "n_steps=0"),
        ({"whitening": "pca"}, "whitening must be None or a WhiteningPCA"),
        (
            {
                "diffusion_map": AnisotropicDiffusionMap(metric=np.ones(3)),
                "kernel_attention": AttentionPreconditioner(),
            },
            "leave diffusion_map.metric",
        ),
    ],
)
def test_bad_parameters(helix, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PLoMSampler(**params).fit(helix)


def test_bad_input_and_calls(helix):
    with pytest.raises(ValueError, match="NaN"):
        PLoMSampler().fit(np.full((10, 3), np.nan))
    with pytest.raises(ValueError, match="weights have 2 entries"):
        PLoMSampler(kernel_attention=AttentionPreconditioner(weights=[1.0, 2.0])).fit(
            helix
        )
    with pytest.raises(ValueError, match="exceeds the numerical rank 3"):
        PLoMSampler(whitening=WhiteningPCA(n_components=5)).fit(helix)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PLoMSampler().sample(10)
    plom = PLoMSampler(random_state=0).fit(helix)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="must be a positive int"):
            plom.sample(bad)
    with pytest.raises(ValueError, match="random_state"):
        plom.sample(5, random_state="seed")


def test_random_state_seeds_the_landmarks(helix):
    """The sampler's seed reaches a diffusion map that has none of its own."""
    dmap = AnisotropicDiffusionMap(n_landmarks=60, n_components=4, epsilon=5.5)
    fits = [
        PLoMSampler(diffusion_map=dmap, random_state=s).fit(helix) for s in (0, 0, 1)
    ]
    assert dmap.random_state is None  # the user's object is left alone
    np.testing.assert_array_equal(
        fits[0].diffusion_map_.landmarks_, fits[1].diffusion_map_.landmarks_
    )
    np.testing.assert_array_equal(
        fits[0].sample_whitened(1, random_state=2),
        fits[1].sample_whitened(1, random_state=2),
    )
    assert not np.array_equal(
        fits[0].diffusion_map_.landmarks_, fits[2].diffusion_map_.landmarks_
    )
    # The diffusion map's own seed takes precedence.
    own = PLoMSampler(diffusion_map=dmap.set_params(random_state=7), random_state=0)
    alone = clone(dmap).fit(WhiteningPCA().fit_transform(helix))
    np.testing.assert_array_equal(
        own.fit(helix).diffusion_map_.landmarks_, alone.landmarks_
    )
