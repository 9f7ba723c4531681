"""Problem 1's stored runs (`hw7.rosenbrock.runs`): what the code computes, and nothing else is read."""

import numpy as np
import pytest

from hw7.rosenbrock import runs as R
from hw7.rosenbrock.descent import run, steps_to
from hw7.rosenbrock.surfaces import rosenbrock_grad


def test_the_stored_runs_are_what_the_code_computes():
    fresh = R.compute()
    assert R.differences(R.read(), fresh) == []
    changed = fresh | {"gd/late_median": fresh["gd/late_median"] * (1 + 1e-15),
                       "case/gd/1e-04/error_curve": fresh["case/gd/1e-04/error_curve"] * 1.001}
    assert R.differences(changed, fresh) == ["case/gd/1e-04/error_curve: differs beyond a relative 1e-09",
                                             "gd/late_median: differs"]


def test_a_sweep_statistic_is_its_run_recomputed_alone():
    """One learning rate of the stored sweep against a separate single run of the same method."""
    i = R.grid_index(1e-3)
    alone = run("adam", rosenbrock_grad, R.START, R.N_STEPS, float(R.ETAS[i]))
    s = R.sweep_stats("adam")
    assert s["steps_to"][i].tolist() == [int(steps_to(alone.error, t)) for t in R.TOLS]
    assert s["late_median"][i] == np.median(alone.error[-R.LATE:].astype(float))
    assert s["diverged_at"][i] == alone.diverged_at
    steps = np.hypot(*np.diff(alone.traj[-R.LATE - 1:], axis=0).T)  # ADAM's step length near the minimum
    assert s["late_step"][i] == pytest.approx(np.median(steps) / R.ETAS[i], rel=1e-12)
    assert 0.01 < s["late_step"][i] < 0.1  # a few percent of η: what the chapter says


def test_columns_keep_every_columns_extremes_and_the_ends():
    rng = np.random.default_rng(0)
    y = rng.normal(size=10_001)
    kept = R.columns(y, n=100)
    steps = kept[:, 0].astype(int)
    assert steps[0] == 0 and steps[-1] == 10_000 and np.all(np.diff(steps) > 0)
    for chunk in np.array_split(np.arange(len(y)), 100):
        inside = (steps >= chunk[0]) & (steps <= chunk[-1])
        assert kept[inside, 1].max() == np.float32(y[chunk].max())
        assert kept[inside, 1].min() == np.float32(y[chunk].min())


def test_drawn_keeps_the_ends_and_marks_gaps():
    x = np.linspace(0, 1, 1001)
    xy = np.c_[x, x**2]
    xy[500] = np.nan
    out = R.drawn(xy, 1000.0)
    assert len(out) < 200 and np.isnan(out).any(axis=1).sum() == 1
    np.testing.assert_allclose(out[0], xy[0]), np.testing.assert_allclose(out[-1], xy[-1])


@pytest.mark.parametrize("content, message", [
    (None, "is missing"),
    (b"not a zip archive", "not a readable .npz"),
    ({"etas": np.zeros(3)}, "does not hold the arrays"),
])
def test_a_bad_store_is_refused_with_the_command_that_rebuilds_it(tmp_path, content, message):
    path = tmp_path / "problem1.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    with pytest.raises(R.Problem1StoreError, match=message) as err:
        R.read(path)
    assert "python -m hw7 run problem1" in str(err.value) and "\n" not in str(err.value)


def test_a_store_with_a_wrong_dtype_or_grid_is_refused(tmp_path):
    arrays = R.read()
    path = tmp_path / "problem1.npz"
    R.save(arrays | {"gd/steps_to": arrays["gd/steps_to"].astype(np.float64)}, path)
    with pytest.raises(R.Problem1StoreError, match="gd/steps_to"):
        R.read(path)
    R.save(arrays | {"etas": arrays["etas"] * 2}, path)
    with pytest.raises(R.Problem1StoreError, match="another grid"):
        R.read(path)


def test_a_pickled_object_array_is_never_loaded(tmp_path):
    arrays = R.read()
    path = tmp_path / "problem1.npz"
    np.savez(path, **(arrays | {"etas": np.array([object()], dtype=object)}))
    with pytest.raises(R.Problem1StoreError):
        R.read(path)


def test_a_fifo_or_a_huge_file_is_refused_at_once(tmp_path):
    import os

    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    with pytest.raises(R.Problem1StoreError, match="not a regular file"):
        R.read(fifo)
    huge = tmp_path / "huge.npz"
    with open(huge, "wb") as f:
        f.truncate(R.MAX_BYTES + 1)
    with pytest.raises(R.Problem1StoreError, match="not a regular file"):
        R.read(huge)
