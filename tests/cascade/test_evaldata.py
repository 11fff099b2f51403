"""Loaders: bad rows named and counted, missing models reported (never filled in), tokens from the
data, counted from answers, or a stated assumption; RouteLLM's published figures reproduced."""
from __future__ import annotations

import numpy as np
import pytest

from tests.cascade.conftest import EVALDATA
from workbench.core.cascade import EvalDataError
from workbench.core.tokens import count_batch, count_tokens
from workbench.io.evaldata import load_eval, load_long_csv, load_wide_csv, tier_prices


def test_long_csv_rejects_bad_rows_by_file_line_field_and_keeps_the_rest():
    es = load_long_csv(EVALDATA / "long_small.csv")
    rejected = {(r.line, r.field) for r in es.report.rejected}
    assert rejected == {(12, "quality"), (13, "input_tokens"), (15, "output_tokens"), (16, "id"), (17, "id"),
                        (22, "quality")}
    assert all(r.file.endswith("long_small.csv") for r in es.report.rejected)
    assert es.report.rows_read == 19         # records, not physical lines
    assert list(es.ids) == ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q9"]
    # the duplicate q1/gpt-4o row (quality 0) is rejected: the first outcome is kept
    assert es.quality[0, es.model_index("gpt-4o")] == 1.0
    # a quoted prompt with a newline survives; q9's second record starts on line 20
    assert es.prompts[-1] == "A prompt with a comma, and a\nnewline"
    assert es.report.missing == {"gpt-4o": 2, "gpt-4o-mini": 1}


def test_tiers_keep_complete_prompts_and_report_the_others():
    es = load_long_csv(EVALDATA / "long_small.csv")
    td = es.for_tiers(["gpt-4o-mini", "gpt-4o"])
    assert list(td.ids) == ["q1", "q2", "q3", "q4", "q9"]
    assert td.dropped_prompts == 3 and td.dropped == {"gpt-4o-mini": 1, "gpt-4o": 2}
    assert td.quality[:, 0].tolist() == [1.0, 0.0, 1.0, 0.5, 0.0]
    assert td.signals["logprob"][:, 0].tolist() == [-0.05, -1.2, -0.02, -0.7, -0.9]


def test_unknown_or_ambiguous_tier_lists_the_models():
    es = load_long_csv(EVALDATA / "long_small.csv")
    with pytest.raises(EvalDataError, match="models: gpt-4o-mini, gpt-4o"):
        es.for_tiers(["gpt-4o-mini", "claude"])
    with pytest.raises(EvalDataError, match="matches several"):
        es.model_index("gpt")


def test_wide_csv_counts_tokens_from_answers_and_reports_missing_cells():
    es = load_wide_csv(EVALDATA / "wide_small.csv")
    assert [(r.line, r.field) for r in es.report.rejected] == [(5, "gpt-4o-mini")]
    assert es.report.missing == {"gpt-4o-mini": 1, "gpt-4o": 1}
    j = es.model_index("gpt-4o")
    assert es.output_tokens[0, j] == count_tokens("Hello, how can I help you today?", "gpt-4o").tokens
    assert es.input_tokens[0, es.model_index("gpt-4o-mini")] == 7                  # from the data
    assert es.input_tokens[1, j] == count_tokens("Add 17 and 25", "gpt-4o").tokens  # counted, and said so
    assert "counted from the prompt, exact (o200k_base)" in es.token_notes["gpt-4o"]
    assert "counted from the model's answers" in es.token_notes["gpt-4o"]


def test_wide_csv_without_tokens_or_answers_needs_a_stated_assumption(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("prompt,a-model,b-model\nhi,1,0\n")
    with pytest.raises(EvalDataError, match="output_tokens="):
        load_wide_csv(path)
    es = load_wide_csv(path, output_tokens=50)
    assert es.output_tokens.tolist() == [[50, 50]]
    assert "assumed: 50" in es.token_notes["a-model"]


def test_long_csv_missing_column_is_a_clear_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,prompt,model,quality\n1,a,m,1\n")
    with pytest.raises(EvalDataError, match=r"x.csv:1: missing column\(s\) input_tokens, output_tokens"):
        load_long_csv(path)


def test_routellm_subset_loads_with_subjects(mmlu_small):
    assert mmlu_small.models == ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")
    assert set(mmlu_small.groups["subject"]) == {"abstract_algebra", "anatomy", "college_physics", "marketing"}
    assert mmlu_small.report.rejected_count == 0
    assert (mmlu_small.output_tokens == 1).all()          # the stated assumption
    j = mmlu_small.model_index("gpt-4")
    np.testing.assert_array_equal(mmlu_small.input_tokens[:, j], count_batch(mmlu_small.prompts, "gpt-4-1106-preview"))


def test_routellm_bad_cell_is_rejected_by_line_and_model(routellm, tmp_path):
    src = (routellm / "mmlu_responses" / "mmlu_global_facts.csv").read_text()
    lines = src.split("\n")
    folder = tmp_path / "m"
    folder.mkdir()
    bad = src.replace(",True,True\n", ",Treu,True\n", 1)
    (folder / "mmlu_global_facts.csv").write_text(bad)
    es = load_eval(folder, "routellm-mmlu")
    assert es.report.rejected_count == 1
    r = es.report.rejected[0]
    assert r.field == "mistralai/Mixtral-8x7B-Instruct-v0.1" and "Treu" in r.reason and r.line > 1
    assert es.report.missing == {"mistralai/Mixtral-8x7B-Instruct-v0.1": 1}   # the other model's cell is kept
    assert es.n == 100 and len(lines) > 100


def test_routellm_gsm8k_counts_both_answers_and_derives_validation(routellm):
    es = load_eval(routellm / "gsm8k")
    assert es.n == 1319
    assert round(es.accuracy("mixtral"), 3) == 0.638 and round(es.accuracy("gpt-4"), 3) == 0.857
    assert int(es.signals["valid"][:, es.model_index("mixtral")].sum()) == 1185
    import csv
    rows = list(csv.DictReader(open(routellm / "gsm8k" / "gsm8k_responses.csv", newline="")))
    answers = [r["gpt-4-1106-preview_response"] for r in rows]
    np.testing.assert_array_equal(es.output_tokens[:, es.model_index("gpt-4")], count_batch(answers, "gpt-4-1106-preview"))


def test_routellm_mtbench_turn_one_judge_scores(routellm):
    es = load_eval(routellm / "mt_bench")
    assert es.n == 80 and set(es.groups["category"]) >= {"writing", "math", "coding"}
    assert np.nanmax(es.quality) <= 1.0 and np.nanmin(es.quality) >= 0.1
    assert (es.output_tokens > 0).all()


def test_prices_from_sheets_and_overrides(real_book):
    import workbench.io.evaldata as evaldata
    mix, gpt = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
    p = tier_prices([mix, gpt], real_book, day="2025-01-01")
    assert (p[1].input, p[1].output) == (10.0, 30.0) and "gpt-4-turbo" in p[1].source   # from the sheet
    # RouteLLM's Mixtral is a dated, sourced record of pricing/mistral.yaml, not a default in code
    assert real_book.resolve(mix) == "open-mixtral-8x7b"
    assert (p[0].input, p[0].output) == (0.7, 0.7)
    assert p[0].source.startswith("open-mixtral-8x7b sheet record of 2024-02-26: https://")
    assert not hasattr(evaldata, "SOURCED_PRICES")
    with pytest.raises(EvalDataError, match="no price for .*on that day"):     # before the record: an error
        tier_prices([mix], real_book, day="2024-01-01")
    q = tier_prices([mix, gpt], real_book, {mix: (0.24, 0.24)}, day="2025-01-01")
    assert (q[0].input, q[0].source) == (0.24, "override (user input)")
    with pytest.raises(EvalDataError, match="--price my-model=IN/OUT"):
        tier_prices(["my-model"], real_book)


def test_named_data_set_and_disk_cache_round_trip(monkeypatch, shared_data, tmp_path):
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(shared_data))
    first = load_eval("routellm-gsm8k", cache=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = load_eval("routellm-gsm8k", cache=tmp_path)
    assert again.prompts == first.prompts and list(again.ids) == list(first.ids)
    for name in ("quality", "input_tokens", "output_tokens"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    np.testing.assert_array_equal(again.signals["valid"], first.signals["valid"])
    assert again.token_notes == first.token_notes and again.report.to_dict() == first.report.to_dict()
