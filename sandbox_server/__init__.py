"""sandcheck's server: runs untrusted programs in nsjail behind a gRPC API."""

__version__ = "0.1.0"
