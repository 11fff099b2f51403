"""Result files: one JSON (everything) and one CSV (one row per request) per run, comparable across runs.

The JSON holds the environment (machine, backend, model, what the server reports, server settings
given by the user), the run configuration, the cold-start request, the warm-up requests and, per load
level, its summary and every request. The CSV repeats the run id, backend, model and machine on every
row so that CSVs from many runs can simply be concatenated.

Secrets: API keys are never put into a run in the first place (backends only store the *name* of the
environment variable). As a second line of defence :func:`scrub_secrets` replaces the value of any
environment variable that looks like a credential wherever it appears, before anything is written or
printed.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

from .aggregate import SLO, cold_start_summary, summarize
from .backends import Backend
from .records import RequestResult

SCHEMA = "workbench.bench/1"
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTH|CREDENTIAL)", re.I)

CSV_RUN_COLUMNS = ("run_id", "created_at", "backend", "model", "machine")
CSV_REQUEST_COLUMNS = (
    "level", "phase", "index", "concurrency", "prompt_id", "dataset", "scheduled_s", "start_s", "queue_ms",
    "ok", "error_reason", "http_status", "error_message", "finish_reason", "ttft_ms", "e2e_ms", "tpot_ms",
    "itl_ms", "chunks", "input_tokens", "input_tokens_source", "output_tokens", "output_tokens_source",
    "output_tokens_per_s", "server_load_ms", "server_prompt_eval_ms", "server_eval_ms", "server_total_ms",
    "server_ttft_ms", "server_output_tokens_per_s",
)


def secret_values(extra: Iterable[str] = ()) -> list[str]:
    """Values of environment variables whose names look like credentials (6+ characters)."""
    vals = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= 6}
    vals.update(v for v in extra if v and len(v) >= 6)
    return sorted(vals, key=len, reverse=True)


def scrub_secrets(obj: Any, secrets: Sequence[str] | None = None) -> Any:
    """``obj`` (nested dicts/lists/strings) with every secret value replaced by ``[redacted]``."""
    secrets = secret_values() if secrets is None else list(secrets)
    if not secrets:
        return obj

    def walk(x: Any) -> Any:
        if isinstance(x, str):
            for s in secrets:
                if s in x:
                    x = x.replace(s, REDACTED)
            return x
        if isinstance(x, dict):
            return {walk(k): walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x

    return walk(obj)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[dict[str, str]]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, mem, driver = (p.strip() for p in (line.split(",") + ["", ""])[:3])
        gpus.append({"name": name, "memory": mem, "driver": driver})
    return gpus


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
        "python": sys.version.split()[0],
        # other work on the machine skews latency: record how busy it was when the run started
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def capture_environment(backend: Backend, server_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Machine, client packages, backend settings and what the server says about itself."""
    return {
        "machine": machine_info(),
        "packages": {d: _version(d) for d in ("llm-cost-workbench", "openai", "ollama", "httpx", "llama_cpp_python")},
        "backend": backend.info(),
        "server": {**backend.describe(), "settings": dict(server_settings or {})},
    }


@dataclass
class BenchRun:
    """A complete benchmark run. Build with :func:`~workbench.bench.harness.run_benchmark` or :func:`load_run`."""

    run_id: str
    created_at: str
    environment: dict[str, Any]
    config: dict[str, Any]
    cold_start: RequestResult | None = None
    warmup: list[RequestResult] = field(default_factory=list)
    levels: list[Any] = field(default_factory=list)  # list[LevelRun]
    stopped_early: bool = False

    # -- convenience -------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self.environment.get("backend", {}).get("backend", "")

    @property
    def model(self) -> str:
        return self.environment.get("backend", {}).get("model", "")

    @property
    def machine(self) -> str:
        m = self.environment.get("machine", {})
        return f"{m.get('cpu', '')} x{m.get('cpu_count', '')}".strip()

    def all_results(self) -> list[RequestResult]:
        out = [self.cold_start] if self.cold_start else []
        out += self.warmup
        for lv in self.levels:
            out += lv.results
        return out

    def measured(self) -> list[RequestResult]:
        return [r for lv in self.levels for r in lv.results]

    def summary(self) -> dict[str, Any]:
        """Aggregate over all levels (each level's own summary is in ``levels``)."""
        if len(self.levels) == 1:
            return dict(self.levels[0].summary)
        slo = SLO(**self.config.get("slo", {})) if self.config.get("slo") else None
        wall = sum(lv.summary.get("wall_s") or 0.0 for lv in self.levels)
        return summarize(self.measured(), wall_s=wall or None, slo=slo)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "environment": self.environment,
            "config": self.config,
            "stopped_early": self.stopped_early,
            "summary": self.summary(),
            "cold_start": cold_start_summary(self.cold_start),
            "levels": [
                {"spec": lv.spec.to_dict(), "wall_s": lv.wall_s, "not_sent": lv.not_sent, "summary": lv.summary}
                for lv in self.levels
            ],
            "requests": [r.to_dict() for r in self.all_results()],
        }
        return scrub_secrets(data)


def default_stem(run: BenchRun) -> str:
    safe_model = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(run.model).name or run.model)[:60]
    return f"{run.backend}-{safe_model}-{run.run_id}"


def save_run(run: BenchRun, directory: str | Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.csv`` into ``directory``; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = stem or default_stem(run)
    data = run.to_dict()
    json_path = directory / f"{stem}.json"
    json_path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    csv_path = directory / f"{stem}.csv"
    machine = run.machine
    secrets = secret_values()
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_RUN_COLUMNS + CSV_REQUEST_COLUMNS)
        for r in run.all_results():
            d = r.to_dict()
            d["itl_ms"] = " ".join(f"{x:.3f}" for x in r.itl_ms)
            row = [run.run_id, run.created_at, run.backend, run.model, machine]
            row += ["" if d[c] is None else d[c] for c in CSV_REQUEST_COLUMNS]
            w.writerow(scrub_secrets([str(x) for x in row], secrets))
    return json_path, csv_path


def load_run(path: str | Path) -> BenchRun:
    """Read a run saved by :func:`save_run` (the JSON file)."""
    from .harness import LevelRun, LoadSpec

    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a benchmark result file (schema {data.get('schema')!r}, expected {SCHEMA!r})")
    requests = [RequestResult.from_dict(r) for r in data.get("requests", [])]
    cold = next((r for r in requests if r.phase == "cold"), None)
    warm = [r for r in requests if r.phase == "warmup"]
    levels = []
    for lv in data.get("levels", []):
        spec_d = {k: v for k, v in lv["spec"].items() if k in ("concurrency", "requests", "rate", "burstiness",
                                                               "max_duration_s")}
        spec = LoadSpec(**spec_d)
        res = [r for r in requests if r.phase == "measured" and r.level == spec.label]
        levels.append(LevelRun(spec, res, lv.get("wall_s", 0.0), lv.get("not_sent", 0), lv["summary"]))
    return BenchRun(
        run_id=data["run_id"], created_at=data["created_at"], environment=data["environment"],
        config=data["config"], cold_start=cold, warmup=warm, levels=levels,
        stopped_early=data.get("stopped_early", False),
    )


def load_runs(paths: Iterable[str | Path]) -> list[BenchRun]:
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += [load_run(q) for q in sorted(p.glob("*.json"))]
        else:
            out.append(load_run(p))
    return out


def compare_runs(runs: Sequence[BenchRun]):
    """One row per (run, level): the figures to compare runs by, as a pandas DataFrame."""
    import pandas as pd

    rows = []
    for run in runs:
        settings = run.environment.get("server", {}).get("settings", {})
        for lv in run.levels:
            s = lv.summary
            rows.append({
                "run_id": run.run_id,
                "created_at": run.created_at,
                "backend": run.backend,
                "model": Path(run.model).name or run.model,
                "machine": run.machine,
                "runtime": settings.get("runtime"),
                "level": lv.spec.label,
                "mode": lv.spec.mode,
                "concurrency": lv.spec.concurrency,
                "rate": lv.spec.rate,
                "requests": s.get("requests"),
                "errors": s.get("errors"),
                "error_rate": s.get("error_rate"),
                "ttft_p50_ms": s["ttft_ms"].get("p50"),
                "ttft_p90_ms": s["ttft_ms"].get("p90"),
                "ttft_p99_ms": s["ttft_ms"].get("p99"),
                "itl_p50_ms": s["itl_ms"].get("p50"),
                "itl_p90_ms": s["itl_ms"].get("p90"),
                "itl_p99_ms": s["itl_ms"].get("p99"),
                "e2e_p50_ms": s["e2e_ms"].get("p50"),
                "output_tokens_per_s": s.get("output_tokens_per_s"),
                "total_tokens_per_s": s.get("total_tokens_per_s"),
                "requests_per_s": s.get("requests_per_s"),
                "goodput_rps": s.get("goodput_rps"),
                "goodput_fraction": s.get("goodput_fraction"),
            })
    return pd.DataFrame(rows)


def sample_data_dir() -> Path:
    """The recorded runs shipped with the repository (``sample_data/bench``)."""
    return Path(__file__).resolve().parents[2] / "sample_data" / "bench"
