"""sandcheck's code_eval as a Hugging Face `evaluate` metric: ``evaluate.load(THIS_FOLDER)``.

    import evaluate
    from sandcheck.code_eval import METRIC_PATH

    code_eval = evaluate.load(METRIC_PATH)
    pass_at_k, results = code_eval.compute(references=["assert add(2,3)==5"],
                                           predictions=[["def add(a,b): return a*b", "def add(a, b): return a+b"]],
                                           k=[1, 2])

The same inputs, arguments and return as the hub's ``code_eval`` metric,
computed by `sandcheck.code_eval`: the candidates run in sandcheck's jails
(an embedded server, or ``server="host:port"``), so no
``HF_ALLOW_CODE_EVAL`` is needed; ``judge="isolated"`` runs each test apart
from the candidate it checks.
"""

import datasets
import evaluate

from sandcheck.code_eval import code_eval

_DESCRIPTION = "pass@k of code candidates against test programs (Chen et al., 2021), run in sandcheck's jails."

_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of candidate programs (strings) per problem.
    references: one test program (a string) per problem, run after each candidate.
    k: the k of pass@k (default [1, 10, 100]); a k above some problem's number of candidates is left out.
    num_workers: checks an embedded server runs at once (default 4).
    timeout: CPU seconds per candidate (default 3.0).
    judge: "inprocess" (default: the metric's own program) or "isolated" (the test apart from the candidate).
    server: address of a running sandcheck server (default: an embedded one).
Returns:
    pass_at_k: {"pass@k": numpy float}; results: {problem index: [(completion_id, result dict)]}.
"""

_CITATION = """\
@misc{chen2021evaluating,
  title={Evaluating Large Language Models Trained on Code},
  author={Mark Chen and others},
  year={2021}, eprint={2107.03374}, archivePrefix={arXiv}, primaryClass={cs.LG}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CodeEval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                        "references": datasets.Value("string")}),
            homepage="https://github.com/openai/human-eval",
        )

    def _compute(self, predictions, references, k=[1, 10, 100], num_workers=4, timeout=3.0, judge="inprocess",
                 server=None):
        return code_eval(predictions, references, k=k, num_workers=num_workers, timeout=timeout, judge=judge,
                         server=server)
