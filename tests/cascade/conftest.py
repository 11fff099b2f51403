"""Shared fixtures of the cascade tests: the small evaluation files and a RouteLLM MMLU subset."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

EVALDATA = ROOT / "tests" / "fixtures" / "evaldata"
MMLU_SUBSET = ("mmlu_abstract_algebra.csv", "mmlu_anatomy.csv", "mmlu_college_physics.csv", "mmlu_marketing.csv")


@pytest.fixture(scope="session")
def routellm(shared_data) -> Path:
    path = shared_data / "routellm"
    if not path.is_dir():
        pytest.fail(f"RouteLLM data missing: {path}")
    return path


@pytest.fixture(scope="session")
def mmlu_subset(routellm, tmp_path_factory) -> Path:
    """Four MMLU subjects (≈ 680 questions) in a temporary folder: fast unit tests on real labels."""
    folder = tmp_path_factory.mktemp("mmlu")
    for name in MMLU_SUBSET:
        shutil.copy(routellm / "mmlu_responses" / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def mmlu_small(mmlu_subset):
    from workbench.io.evaldata import load_routellm_mmlu
    return load_routellm_mmlu(mmlu_subset)
