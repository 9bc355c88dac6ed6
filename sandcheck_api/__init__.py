"""sandcheck's API: the protocol both the server and the SDK speak.

A leaf package: generated code from ``proto/`` (see ``scripts/gen-api``),
importing nothing else of sandcheck's, so that neither side has to import the
other to talk.
"""
