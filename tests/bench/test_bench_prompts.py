"""Prompts from the real data sets, synthetic prompts, and input-length control."""

from __future__ import annotations

import pytest

from workbench.bench.prompts import fit_to_tokens, load_texts, make_requests, synthetic_text
from workbench.core.tokens import count_tokens


def test_mt_bench_and_bitext_are_read_from_the_shared_data(shared_data):
    mt = load_texts("mt_bench")
    assert len(mt) == 80 and mt[0][0] == "mt_bench:81" and "Hawaii" in mt[0][1]
    bitext = load_texts("bitext")
    assert len(bitext) > 1000 and bitext[0] == ("bitext:0", "how can I cancel purchase 113542617735902?")


def test_requests_cycle_and_carry_the_output_budget(shared_data):
    reqs = make_requests("mt_bench", 100, max_output_tokens=17, seed=1)
    assert len(reqs) == 100 and all(r.max_output_tokens == 17 for r in reqs)
    assert len({r.prompt_id for r in reqs}) == 80
    assert reqs[0].messages[-1]["role"] == "user"
    assert make_requests("mt_bench", 5, seed=1) == make_requests("mt_bench", 5, seed=1)


@pytest.mark.parametrize("dataset", ["mt_bench", "bitext", "synthetic"])
@pytest.mark.parametrize("n_tokens", [16, 200])
def test_controlled_input_length(shared_data, dataset, n_tokens):
    for r in make_requests(dataset, 4, input_tokens=n_tokens, seed=2):
        assert count_tokens(r.messages[-1]["content"]).tokens == n_tokens


def test_fit_to_tokens_and_synthetic_text():
    assert count_tokens(fit_to_tokens("short", 50, ["more words here"])).tokens == 50
    assert count_tokens(fit_to_tokens("a much longer sentence than three tokens", 3)).tokens == 3
    assert count_tokens(synthetic_text(64, seed=5)).tokens == 64
    assert synthetic_text(20, seed=1) == synthetic_text(20, seed=1)


@pytest.mark.parametrize("kwargs", [dict(n=0), dict(max_output_tokens=0), dict(input_tokens=0)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_requests("synthetic", **{"n": 1, **kwargs})
    with pytest.raises(ValueError):
        make_requests("nope", 1)
