"""What a pass@k figure does not say on its face, found before it is reported.

A run over 12 of 164 problems, a k dropped because some problem has fewer
samples, a time limit the server lowered to its maximum: each changes what
the number means. `caveats` lists them; `eval` prints each on stderr and
records them in the run record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any


def caveats(samples: Iterable[Mapping[str, Any]], problems: Mapping[str, Any], ks: Iterable[int],
            requested_limits: Mapping[str, Any] | None = None,
            effective_limits: Mapping[str, Any] | None = None) -> list[str]:
    """One sentence per caveat; an empty list when the figure means what it says."""
    per_problem = Counter(s["task_id"] for s in samples)
    out: list[str] = []
    if per_problem and len(per_problem) < len(problems):
        out.append(f"the samples cover {len(per_problem)} of the {len(problems)} problems in the problem set; "
                   f"pass@k is averaged over those {len(per_problem)} only")
    fewest = min(per_problem.values(), default=0)
    dropped = [k for k in ks if k > fewest]
    if per_problem and dropped:
        out.append(f"pass@{', pass@'.join(map(str, dropped))} left out: some problem has only {fewest} "
                   f"sample{'s' if fewest != 1 else ''}")
    for name, asked in (requested_limits or {}).items():
        got = (effective_limits or {}).get(name)
        if asked and got and got < asked:
            out.append(f"limit {name} clamped by the server from {asked} to {got}")
    return out
