"""Result files: JSON + CSV with the environment, loadable and comparable across runs; the shipped samples."""

from __future__ import annotations

import csv
import json

import pytest

from workbench.bench import LoadSpec, RunConfig, create_backend, make_requests, run_benchmark
from workbench.bench.results import CSV_REQUEST_COLUMNS, CSV_RUN_COLUMNS, compare_runs, load_run, load_runs, \
    sample_data_dir, save_run


@pytest.fixture(scope="module")
def fake_run(fault_server):
    b = create_backend("ollama", fault_server.url, "ok")
    return run_benchmark(b, make_requests("synthetic", 3, input_tokens=8, max_output_tokens=4),
                         RunConfig(levels=(LoadSpec(concurrency=1, requests=3), LoadSpec(concurrency=2, requests=4)),
                                   warmup_requests=1),
                         server_settings={"runtime": "fake"})


def test_save_and_load_round_trip(fake_run, tmp_path):
    json_path, csv_path = save_run(fake_run, tmp_path)
    data = json.loads(json_path.read_text())
    assert data["schema"] == "workbench.bench/1"
    assert set(data["environment"]) >= {"machine", "backend", "server", "packages"}
    assert data["environment"]["server"]["settings"] == {"runtime": "fake"}
    assert data["summary"]["requests"] == 7
    assert [lv["summary"]["requests"] for lv in data["levels"]] == [3, 4]
    loaded = load_run(json_path)
    assert loaded.run_id == fake_run.run_id and loaded.backend == "ollama"
    assert [lv.spec.label for lv in loaded.levels] == ["c1", "c2"]
    assert [len(lv.results) for lv in loaded.levels] == [3, 4]
    assert loaded.cold_start is not None and len(loaded.warmup) == 1
    assert loaded.levels[1].summary == fake_run.levels[1].summary
    assert loaded.measured()[0].itl_ms == fake_run.measured()[0].itl_ms

    rows = list(csv.DictReader(csv_path.open()))
    assert list(rows[0]) == list(CSV_RUN_COLUMNS + CSV_REQUEST_COLUMNS)
    assert len(rows) == 1 + 1 + 7  # cold + warm-up + measured
    assert {r["run_id"] for r in rows} == {fake_run.run_id} and {r["backend"] for r in rows} == {"ollama"}
    assert [r["phase"] for r in rows[:2]] == ["cold", "warmup"]


def test_compare_runs_gives_one_row_per_level(fake_run, tmp_path):
    save_run(fake_run, tmp_path / "a")
    save_run(fake_run, tmp_path / "b", stem="second")
    runs = load_runs([tmp_path / "a", tmp_path / "b" / "second.json"])
    frame = compare_runs(runs)
    assert len(frame) == 4
    assert {"ttft_p50_ms", "itl_p99_ms", "output_tokens_per_s", "goodput_rps", "machine", "runtime"} <= set(frame)


def test_load_rejects_other_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a benchmark result"):
        load_run(p)


def test_shipped_sample_runs_are_real_llama_cpp_runs():
    files = sorted(sample_data_dir().glob("*.json"))
    names = {f.name for f in files}
    assert {"openai-llamacpp-smollm2-135m.json", "ollama-bridge-smollm2-135m.json"} <= names
    for f in files:
        run = load_run(f)
        assert f.with_suffix(".csv").exists()
        assert run.levels and all(lv.summary["requests"] > 0 for lv in run.levels)
        assert run.summary()["errors"] == 0
        settings = run.environment["server"]["settings"]
        assert "llama-cpp-python" in settings["runtime"] and settings["n_threads"] == "1"
        assert run.environment["machine"]["cpu_count"] >= 1
        assert run.cold_start is not None
    openai_run = load_run(sample_data_dir() / "openai-llamacpp-smollm2-135m.json")
    assert [lv.spec.concurrency for lv in openai_run.levels] == [1, 2, 4]
    ollama_run = load_run(sample_data_dir() / "ollama-bridge-smollm2-135m.json")
    assert ollama_run.summary()["output_tokens_source"] == {"usage": ollama_run.summary()["ok"]}
