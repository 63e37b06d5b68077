"""paraschut-local: the local machine as a small cluster, with no server (the ``local`` executor).

The hooks live in :mod:`paraschut_local.plugin`; this package imports nothing heavy so that its
detached workers start fast.
"""

from __future__ import annotations

from .launch import JOB_ID_VAR

__version__ = "0.1.0"

__all__ = ["JOB_ID_VAR", "__version__"]
