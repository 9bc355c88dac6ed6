"""Judge texts a warm jail runs once, before its first fork: the SDK's isolated judge's harness.

A judged check's program must find its judge's text already run as the
module ``__judge__`` (program.py). Run in each forked child, that costs
~0.35 ms of CPU a check (its functions and classes made anew, ~130 pages of
the zygote copied); run once in the zygote, it costs a check nothing. The
zygote never runs request data, so it runs only texts the server holds
itself: the harness of the SDK installed beside it (one distribution), read
as text; the server does not import the SDK (tests/test_layers.py). A check
gets the zygote's module only when its judge text is byte for byte one of
these (sha256); any other text, another SDK version's, runs in the child as
before, with the same verdicts.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from .files import JUDGE_FILE, Files

# The files of sandcheck/judges/ that make the harness, joined as
# sandcheck.judges.isolated.HARNESS joins them (tests/test_judge_warm.py holds the two equal).
_HARNESS_FILES = ("codec.py", "isolated_candidate.py", "isolated_harness.py")


def _sdk_harness() -> tuple[bytes, ...]:
    """The installed SDK's harness text, or nothing if no SDK is installed beside the server
    (its checks then run the harness in each child: slower, the same verdicts)."""
    spec = importlib.util.find_spec("sandcheck")  # finds the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        return ()
    judges = Path(next(iter(spec.submodule_search_locations))) / "judges"
    try:
        return ("\n".join((judges / name).read_text() for name in _HARNESS_FILES).encode(),)
    except OSError:
        return ()


TRUSTED_JUDGES: tuple[bytes, ...] = _sdk_harness()
# The same texts by sha256 (hex): a request may name one (ExecuteRequest.held_files, GetInfo's
# held_files) instead of sending it, and the server then has it without reading ~15 KB a check.
HELD_TEXTS: dict[str, bytes] = {hashlib.sha256(text).hexdigest(): text for text in TRUSTED_JUDGES}


def leave_out(files: Files) -> tuple[Files, int]:
    """(the files a warm job carries, the number its header gives the judge): a
    judge text that is TRUSTED_JUDGES[k - 1] travels as k alone, since the
    zygote holds it already (zygote.py, `_HEADER`); 0 when the files keep it
    or there is no judge. Saves copying ~15 KB into the job and out of it
    again, in the zygote and in the check's process, for every check."""
    for i, (name, content) in enumerate(files):
        if name == JUDGE_FILE:
            number = next((k for k, text in enumerate(TRUSTED_JUDGES, 1) if text == content), 0)
            return ((*files[:i], *files[i + 1:]), number) if number else (files, 0)
    return files, 0


def script_prefix() -> str:
    """The line the zygote's script starts with (zygote.py reads TRUSTED_JUDGES)."""
    return f"TRUSTED_JUDGES = {TRUSTED_JUDGES!r}\n"
