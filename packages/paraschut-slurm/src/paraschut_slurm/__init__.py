"""paraschut's ``slurm`` executor: sbatch, squeue, scontrol and scancel, on paraschut's public plugin API."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
