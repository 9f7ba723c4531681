"""Optimizers: the vectorized path against plain loops, PyTorch, divergence, bad input."""

import warnings

import numpy as np
import pytest
import torch

from hw7.rosenbrock import descent
from hw7.rosenbrock.descent import adams, gd, gd_with_mom, run, steps_to
from hw7.rosenbrock.surfaces import rosenbrock_grad

START = (-4.0, -2.0)
CASES = [  # method, stable learning rates, reference loop
    ("gd", [1e-5, 5e-5, 1e-4, 2e-4], descent.reference_gd),
    ("momentum", [1e-5, 3e-5, 1e-4], descent.reference_momentum),
    ("adam", [1e-4, 1e-3, 1e-2], descent.reference_adam),
]


@pytest.mark.parametrize("method, etas, reference", CASES)
def test_vectorized_equals_plain_loop(method, etas, reference):
    n = 10_000
    inits = np.array([START, (0.5, 2.0), (-1.0, 1.0), (2.0, 3.0)])[: len(etas)]
    res = run(method, rosenbrock_grad, inits, n, np.array(etas))
    assert res.traj.shape == (len(etas), n + 1, 2)
    assert not res.diverged.any()
    for k, eta in enumerate(etas):
        ref = reference(rosenbrock_grad, inits[k], n, eta)
        rel = np.abs(res.traj[k] - ref) / np.maximum(np.abs(ref), 1e-300)
        assert rel.max() <= 1e-12, (method, eta, rel.max())


def test_scalar_run_has_assignment_shape():
    res = gd(rosenbrock_grad, START, n_epochs=50, eta=1e-4)
    assert res.traj.shape == (51, 2) and res.error.shape == (51,)
    np.testing.assert_array_equal(res.traj[0], START)
    assert not bool(res.diverged) and int(res.diverged_at) == -1
    np.testing.assert_array_equal(res.final, res.traj[-1])
    np.testing.assert_allclose(res.error, np.hypot(*(res.traj - 1).T), rtol=1e-6)


def test_divergence_freezes_only_that_run_without_warnings():
    etas = np.array([1e-4, 1e-3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = gd_with_mom(rosenbrock_grad, START, n_epochs=200, eta=etas)
    np.testing.assert_array_equal(res.diverged, [False, True])
    np.testing.assert_array_equal(res.traj[0], descent.reference_momentum(rosenbrock_grad, START, 200, 1e-4))
    # The plain loop tells where the second run first leaves the box |x|, |y| <= 1e6.
    with np.errstate(all="ignore"):
        ref = descent.reference_momentum(rosenbrock_grad, START, 10, 1e-3)
    out = ~(np.abs(ref) <= 1e6).all(axis=1)
    step = int(res.diverged_at[1])
    assert step == out.argmax() and step > 0
    np.testing.assert_array_equal(res.traj[1, :step], ref[:step])
    np.testing.assert_array_equal(res.traj[1, step:], np.broadcast_to(ref[step - 1], (201 - step, 2)))
    assert np.isfinite(res.traj).all() and np.isfinite(res.error).all()


def test_bound_is_a_parameter():
    loose = gd_with_mom(rosenbrock_grad, START, n_epochs=20, eta=1e-3)
    tight = gd_with_mom(rosenbrock_grad, START, n_epochs=20, eta=1e-3, bound=10.0)
    assert 0 < int(tight.diverged_at) < int(loose.diverged_at)


@pytest.mark.parametrize("method", ["gd", "momentum", "adam"])
def test_error_record_matches_traj_record(method):
    etas = np.array([1e-5, 1e-4, 1e-3, 1e-2])
    n = 3000  # several internal blocks of steps
    full = run(method, rosenbrock_grad, START, n, etas)
    small = run(method, rosenbrock_grad, START, n, etas, record="error")
    assert small.traj is None and small.error.dtype == np.float32
    np.testing.assert_array_equal(small.error, full.error)
    np.testing.assert_array_equal(small.diverged_at, full.diverged_at)
    np.testing.assert_array_equal(small.final, full.final)


def test_steps_to():
    err = np.array([[5.0, 0.5, 0.05, 0.2, 1e-4], [3, 2, 1, 1, 1]])
    np.testing.assert_array_equal(steps_to(err, 0.1), [2, -1])
    np.testing.assert_array_equal(steps_to(err, 1e-3), [4, -1])


def _torch_run(opt_factory, eta, n):
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = opt_factory([p], eta)
    traj = [p.detach().numpy().copy()]
    for _ in range(n):
        opt.zero_grad()
        p.grad = torch.from_numpy(rosenbrock_grad(p.detach().numpy()))
        opt.step()
        traj.append(p.detach().numpy().copy())
    return np.array(traj)


def test_momentum_is_torch_sgd():
    n, eta, gamma = 400, 1e-4, 0.9
    ours = gd_with_mom(rosenbrock_grad, START, n, eta, gamma=gamma).traj
    theirs = _torch_run(lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=gamma, dampening=0), eta, n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_adam_differs_from_torch_only_by_epsilon_placement():
    n, eta = 400, 1e-2
    adam = lambda eps: (lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.99), eps=eps))
    no_eps = adams(rosenbrock_grad, START, n, eta, epsilon=0.0).traj
    np.testing.assert_allclose(no_eps, _torch_run(adam(0.0), eta, n), rtol=1e-9)
    outside = adams(rosenbrock_grad, START, n, eta, epsilon=1e-8, eps_inside=False).traj
    np.testing.assert_allclose(outside, _torch_run(adam(1e-8), eta, n), rtol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=0.0), "eta"),
    (dict(eta=-1e-3), "eta"),
    (dict(eta=np.array([1e-3, np.nan])), "eta"),
    (dict(init=(1.0, 2.0, 3.0)), "init"),
    (dict(init=np.zeros((3, 3))), "init"),
    (dict(init=np.zeros((3, 2)), eta=np.ones(2) * 1e-4), "runs"),
    (dict(n_epochs=-1), "n_epochs"),
    (dict(record="everything"), "record"),
    (dict(bound=0.0), "bound"),
])
def test_bad_input_raises(kwargs, match):
    args = dict(grad=rosenbrock_grad, init=START, n_epochs=5, eta=1e-4) | kwargs
    with pytest.raises(ValueError, match=match):
        gd(**args)


def test_unknown_method_and_bad_adam_parameters():
    with pytest.raises(ValueError, match="unknown method"):
        run("lbfgs", rosenbrock_grad, START, 5, 1e-4)
    with pytest.raises(ValueError, match="gamma"):
        adams(rosenbrock_grad, START, 5, 1e-4, gamma=1.0)
