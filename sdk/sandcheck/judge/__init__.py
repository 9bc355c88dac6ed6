"""The isolated judge: the test runs in a process apart from the completion.

- `codec`: the strict plain-value codec that arguments and results cross in
  (``encode``/``decode``/``CodecError``); usable on its own.
- `isolated`: the check for one sample, a program without secrets and its
  stdin (the nonce, the prompt, the test).
- ``isolated_harness.py``: the harness that runs in the jail (read as text).
"""
