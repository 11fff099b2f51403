"""Local vs hosted benchmark: measure a model server, turn speed into $/1M tokens and a break-even volume.

Quick use::

    from workbench.bench import create_backend, make_requests, run_benchmark, RunConfig, LoadSpec
    backend = create_backend("openai", "http://127.0.0.1:8080/v1", "smollm2-135m")
    run = run_benchmark(backend, make_requests("mt_bench", 8, max_output_tokens=32),
                        RunConfig(levels=(LoadSpec(concurrency=1, requests=8),)))
    run.summary()["ttft_ms"]["p50"]
"""

from .aggregate import SLO, percentiles, summarize
from .backends import Backend, OllamaBackend, OpenAIBackend, backend_names, create_backend, register_backend
from .cost import (
    QUALITY_WARNING,
    BreakEven,
    HardwarePreset,
    HostedPrice,
    LocalCost,
    break_even,
    cost_vs_volume,
    cost_vs_volume_chart,
    hardware_presets,
    hosted_prices,
    local_cost,
    local_cost_from_summary,
    usd_per_mtok,
)
from .faults import Fault, classify
from .harness import LevelRun, LoadSpec, RunConfig, arrival_offsets, execute_one, run_benchmark, run_level
from .prompts import DATASETS, make_requests
from .records import BenchRequest, RequestResult, StreamEvent
from .results import BenchRun, compare_runs, load_run, load_runs, sample_data_dir, save_run, scrub_secrets

__all__ = [
    "SLO", "percentiles", "summarize",
    "Backend", "OllamaBackend", "OpenAIBackend", "backend_names", "create_backend", "register_backend",
    "QUALITY_WARNING", "BreakEven", "HardwarePreset", "HostedPrice", "LocalCost", "break_even", "cost_vs_volume",
    "cost_vs_volume_chart", "hardware_presets", "hosted_prices", "local_cost", "local_cost_from_summary",
    "usd_per_mtok",
    "Fault", "classify",
    "LevelRun", "LoadSpec", "RunConfig", "arrival_offsets", "execute_one", "run_benchmark", "run_level",
    "DATASETS", "make_requests",
    "BenchRequest", "RequestResult", "StreamEvent",
    "BenchRun", "compare_runs", "load_run", "load_runs", "sample_data_dir", "save_run", "scrub_secrets",
]
