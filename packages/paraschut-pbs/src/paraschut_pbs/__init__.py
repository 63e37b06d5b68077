"""paraschut's ``pbs`` executor: PBS Pro / OpenPBS, Torque, and Slurm's PBS-compatible wrappers."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
