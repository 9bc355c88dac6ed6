"""Judge texts a warm jail runs once, before its first fork: the SDK's isolated judge's harness.

A judged check's program must find its judge's text already run as the
module ``__judge__`` (program.py). Run in each forked child, that costs
~0.35 ms of CPU a check (its functions and classes made anew, ~130 pages of
the zygote copied); run once in the zygote, it costs a check nothing. The
zygote never runs request data, so it runs only texts the server holds
itself: the harness of the SDK installed beside it (one distribution). A
check gets the zygote's module only when its judge text is byte for byte one
of these (sha256); any other text, another SDK version's, runs in the child
as before, with the same verdicts.
"""

from __future__ import annotations

from sandcheck.judges import isolated

TRUSTED_JUDGES: tuple[bytes, ...] = (isolated.FILES[isolated.JUDGE_FILE],)


def script_prefix() -> str:
    """The line the zygote's script starts with (zygote.py reads TRUSTED_JUDGES)."""
    return f"TRUSTED_JUDGES = {TRUSTED_JUDGES!r}\n"
