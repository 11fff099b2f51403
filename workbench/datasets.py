"""Public traces by name: ``workbench.datasets.dataset_path("azure-2023-conv")``.

A short name for :mod:`workbench.io.datasets` (downloads into a user cache with a SHA-256 check;
offline it reads the mirror folder named by ``WORKBENCH_DATA_MIRROR``).
"""
from workbench.io.datasets import DATASETS, dataset_path

__all__ = ["DATASETS", "dataset_path"]
