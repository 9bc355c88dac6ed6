"""Judges: how a check program turns a completion and its test into a verdict.

- `codec`: the strict plain-value codec values cross a process boundary in.
"""
