"""Realisations through joblib backends (loky, threading, Dask) match serial runs.

Realisations are seeded independently (SeedSequence children), so the backend and
n_jobs change the rows only at round-off level (BLAS thread counts may differ between
processes): compare with rtol 1e-10, not bitwise (DESIGN section 1).
"""

import concurrent.futures
import logging
import threading

import joblib
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import skaidm
import skaidm.plom
from skaidm import PLoMSampler


@pytest.fixture(autouse=True)
def _share_out_small_problems(monkeypatch):
    """Small test problems are shared out over the workers like large ones.

    By default batches below ``PARALLEL_MIN_BATCH_ENTRIES`` stay in one process;
    here the parallel paths themselves are under test.
    """
    monkeypatch.setattr(skaidm.plom, "PARALLEL_MIN_BATCH_ENTRIES", 1)


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Small matrices: one BLAS thread is fastest and immune to a loaded machine."""
    with threadpool_limits(1):
        yield


# The helix has values of order 1 (and some near 0): the absolute floor is 1e-12
# of that scale, far below any real difference between realisations (~0.1).
RTOL, ATOL = 1e-10, 1e-12

# 3 realisations of the 200-row helix, the last one partial.
N_SAMPLES = 450


def serial_reference(X, random_state=3, **params):
    sampler = PLoMSampler(n_jobs=1, random_state=0, **params).fit(X)
    return sampler.sample(N_SAMPLES, random_state=random_state)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_joblib_backends_match_serial(helix, backend):
    expected = serial_reference(helix)
    parallel = PLoMSampler(n_jobs=2, random_state=0).fit(helix)
    with joblib.parallel_config(backend=backend):
        got = parallel.sample(N_SAMPLES, random_state=3)
        # The internal stream (random_state=None) is the same in every mode too.
        stream = [parallel.sample(N_SAMPLES) for _ in range(2)]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    serial = PLoMSampler(n_jobs=1, random_state=0).fit(helix)
    for rows in stream:
        np.testing.assert_allclose(rows, serial.sample(N_SAMPLES), rtol=RTOL, atol=ATOL)
    # A different seed is not within round-off: the comparison has power.
    assert not np.allclose(
        parallel.sample(N_SAMPLES, random_state=4), expected, rtol=RTOL, atol=ATOL
    )


def test_threading_backend_really_runs_in_worker_threads(helix, monkeypatch):
    """The realisations go through joblib (not a serial shortcut)."""
    threads = []
    original = skaidm.plom._realisation

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(skaidm.plom, "_realisation", recording)
    sampler = PLoMSampler(n_jobs=2, random_state=0).fit(helix)
    with joblib.parallel_config(backend="threading"):
        got = sampler.sample(N_SAMPLES, random_state=3)
    assert len(threads) == 2  # batches of 2 and 1 realisations
    assert threading.get_ident() not in threads
    np.testing.assert_allclose(got, serial_reference(helix), rtol=RTOL, atol=ATOL)


def test_n_jobs_does_not_change_whitened_realisations(correlated_gaussian):
    X = correlated_gaussian[:150, :10]
    serial = PLoMSampler(n_jobs=1, random_state=0).fit(X)
    parallel = PLoMSampler(n_jobs=2, random_state=0).fit(X)
    with joblib.parallel_config(backend="threading"):
        got = parallel.sample_whitened(4, random_state=5)
    expected = serial.sample_whitened(4, random_state=5)
    assert got.shape == (4, 150, serial.whitening_.n_components_)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    # Realisations are independent: no two are alike.
    assert not np.allclose(got[0], got[1])


# --------------------------------------------------------------------- Dask
CLUSTER_START_TIMEOUT = 120  # seconds; start-up is ~5-10 s on an idle machine


@pytest.fixture(scope="module")
def dask_client():
    """Two single-threaded worker processes and a scheduler, on loopback only."""
    distributed = pytest.importorskip("dask.distributed")

    def start():
        return distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
            silence_logs=logging.ERROR,
        )

    # LocalCluster has no start-up timeout of its own: start it in a thread and
    # give up (without hanging the test session) if it does not come up.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(start)
    try:
        cluster = future.result(timeout=CLUSTER_START_TIMEOUT)
    except concurrent.futures.TimeoutError:
        pool.shutdown(wait=False)
        pytest.skip(f"a local Dask cluster did not start in {CLUSTER_START_TIMEOUT} s")
    pool.shutdown(wait=False)
    client = distributed.Client(cluster, timeout=CLUSTER_START_TIMEOUT)
    try:
        client.wait_for_workers(2, timeout=CLUSTER_START_TIMEOUT)
        yield client
    finally:
        client.close()
        cluster.close()


def test_dask_cluster_is_loopback_only(dask_client):
    info = dask_client.scheduler_info()
    assert dask_client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert len(info["workers"]) == 2
    for address, worker in info["workers"].items():
        assert address.startswith("tcp://127.0.0.1:")
        assert worker["nthreads"] == 1


def test_dask_backend_matches_serial(helix, dask_client):
    from dask.distributed import get_task_stream

    expected = serial_reference(helix)
    sampler = PLoMSampler(random_state=0).fit(helix)  # n_jobs from the context
    with get_task_stream(dask_client) as tasks, joblib.parallel_config(backend="dask"):
        got = sampler.sample(N_SAMPLES, random_state=3)
    # The 3 realisations really ran on the cluster (batches of 2 and 1 for the
    # two workers)...
    assert len(tasks.data) >= 2
    # ...and gave the serial rows.
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_dask_backend_pipeline_and_stream(helix, dask_client):
    """skaidm.sample of a pipeline, with the estimator's own stream, on Dask."""

    def fitted():
        return skaidm.make_aidm_pipeline(
            [1.0, 2.0, 3.0], variant="B", n_jobs=2, random_state=0
        ).fit(helix)

    serial, remote = fitted(), fitted()
    serial.set_params(plom__n_jobs=1)
    expected = [skaidm.sample(serial, N_SAMPLES) for _ in range(2)]
    with joblib.parallel_config(backend="dask"):
        got = [skaidm.sample(remote, N_SAMPLES) for _ in range(2)]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)
    assert not np.allclose(got[0], got[1])
