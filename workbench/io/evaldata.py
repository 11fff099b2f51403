"""Loaders for evaluation data: per prompt, per model, quality and tokens (and optional signals).

Formats (``load_eval(path, fmt)``):

``long-csv`` — one row per (prompt, model), what a team's own eval run writes::

    id,prompt,model,quality,input_tokens,output_tokens[,logprob,confidence,valid,self_check,group]

  ``quality`` is a number in [0, 1] (or true/false); tokens are non-negative integers; an empty
  ``input_tokens`` is counted from the prompt with the model's tokenizer (stated), an empty
  ``output_tokens`` rejects the row (no guessing). Signals are optional numbers.

``wide-csv`` — one row per prompt (RouteLLM's layout): ``[id,]prompt[,group]`` and, per model ``M``,
  a column ``M`` (quality) plus optional ``M_response``, ``M_input_tokens``, ``M_output_tokens``,
  ``M_logprob``, ``M_confidence``, ``M_valid``, ``M_self_check``. Missing tokens are counted: input
  from the prompt, output from ``M_response`` (with the model's tokenizer), else the loader's
  ``output_tokens=`` assumption, which the result states.

``routellm-mmlu`` (folder of ``mmlu_*.csv``), ``routellm-gsm8k`` (``gsm8k_responses.csv``: output
tokens counted from both models' answers, and a ``valid`` signal: the cheap answer ends in the
``#### <number>`` form GSM8K asks for), ``routellm-mtbench`` (folder with ``judgements.jsonl`` and
``question.jsonl``: GPT-4 judge score / 10 on turn 1, answer tokens counted from the judged answer).

A bad row is named (file, line, field, reason), counted and skipped; the good rows are kept. A model
missing for some prompts is reported in ``report.missing`` and never filled in.
"""
from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from workbench.core.cascade.evalset import SIGNAL_COLUMNS, BadRow, EvalDataError, EvalSet, LoadReport

FORMATS = ("long-csv", "wide-csv", "routellm-mmlu", "routellm-gsm8k", "routellm-mtbench")
LONG_REQUIRED = ("id", "prompt", "model", "quality", "input_tokens", "output_tokens")
WIDE_SUFFIXES = ("_response", "_input_tokens", "_output_tokens") + tuple(f"_{s}" for s in SIGNAL_COLUMNS)
RESERVED = ("id", "prompt", "group")

#: RouteLLM's MMLU answers are one letter (A–D) after "Answer:"; the files hold no answer text.
MMLU_OUTPUT_TOKENS = 1

csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))


def _truth(text: str) -> float | None:
    t = text.strip().lower()
    if t in ("true", "1", "1.0", "yes"):
        return 1.0
    if t in ("false", "0", "0.0", "no"):
        return 0.0
    try:
        v = float(t)
    except ValueError:
        return None
    return v if 0.0 <= v <= 1.0 else None


def _records(path: Path):
    """(record start line, row dict) for each CSV record; header = line 1."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise EvalDataError(f"{path}: empty file (no header)")
        prev = reader.line_num
        for row in reader:
            yield prev + 1, row, list(reader.fieldnames)
            prev = reader.line_num


def _count(texts: list[str], model: str) -> tuple[np.ndarray, str]:
    from workbench.core.tokens import ESTIMATORS, count_batch, resolve_tokenizer
    try:
        tok = resolve_tokenizer(model)
    except ValueError:
        tok = "estimate:generic"
    if tok in ESTIMATORS:
        return count_batch(texts, tokenizer=tok), f"{tok}: {ESTIMATORS[tok].note}"
    return count_batch(texts, tokenizer=tok), f"exact ({tok})"


class _Builder:
    """Collects outcomes by (prompt id, model) and builds the aligned arrays."""

    def __init__(self, name: str, report: LoadReport):
        self.name, self.report = name, report
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.prompts: list[str] = []
        self.groups: list[str] = []
        self.cells: dict[tuple[int, str], dict] = {}
        self.models: list[str] = []

    def prompt(self, pid: str, text: str, group: str = "") -> int:
        if pid not in self.pos:
            self.pos[pid] = len(self.ids)
            self.ids.append(pid)
            self.prompts.append(text)
            self.groups.append(group)
        return self.pos[pid]

    def put(self, i: int, model: str, cell: dict, where: BadRow) -> None:
        if model not in self.models:
            self.models.append(model)
        if (i, model) in self.cells:
            self.report.rejected.append(BadRow(where.file, where.line, "id", f"duplicate outcome for prompt "
                                               f"{self.ids[i]!r} and model {model!r} (the first is kept)"))
            return
        self.cells[(i, model)] = cell

    def build(self, token_notes: dict[str, str], count_missing_input: bool = True) -> EvalSet:
        if not self.ids or not self.models:
            raise EvalDataError(f"{self.report.source}: no usable rows ({self.report.rejected_count} rejected)")
        n, m = len(self.ids), len(self.models)
        q = np.full((n, m), np.nan)
        tin = np.full((n, m), -1, dtype=np.int64)
        tout = np.full((n, m), -1, dtype=np.int64)
        sig = {s: np.full((n, m), np.nan) for s in SIGNAL_COLUMNS}
        for (i, model), c in self.cells.items():
            j = self.models.index(model)
            q[i, j] = c["quality"]
            tin[i, j] = c.get("input_tokens", -1)
            tout[i, j] = c.get("output_tokens", -1)
            for s in SIGNAL_COLUMNS:
                if c.get(s) is not None:
                    sig[s][i, j] = c[s]
        notes = dict(token_notes)
        if count_missing_input:
            for j, model in enumerate(self.models):
                need = (tin[:, j] < 0) & ~np.isnan(q[:, j])
                if need.any():
                    counts, how = _count([self.prompts[i] for i in np.flatnonzero(need)], model)
                    tin[need, j] = counts
                    notes[model] = f"input tokens counted from the prompt, {how}" + (
                        f"; {notes[model]}" if notes.get(model) else "")
        for j, model in enumerate(self.models):
            missing = int(np.isnan(q[:, j]).sum())
            if missing:
                self.report.missing[model] = missing
        groups = {"group": np.array(self.groups, dtype=object)} if any(self.groups) else {}
        return EvalSet(self.name, np.array(self.ids, dtype=object), self.prompts, tuple(self.models), q, tin, tout,
                       {s: v for s, v in sig.items() if not np.isnan(v).all()}, groups, notes, self.report)


def _number(text: str | None, field: str, where, report: LoadReport, *, integer: bool = False):
    if text is None or text.strip() == "":
        return None
    try:
        v = float(text)
        if not np.isfinite(v):
            raise ValueError
        if integer:
            if v != int(v) or v < 0:
                raise ValueError
            return int(v)
        return v
    except ValueError:
        kind = "a non-negative integer" if integer else "a number"
        report.rejected.append(BadRow(where[0], where[1], field, f"must be {kind}, got {text!r}"))
        raise


def load_long_csv(path: str | Path) -> EvalSet:
    path = Path(path)
    report = LoadReport(str(path))
    b = _Builder(path.stem, report)
    header_checked = False
    for line, row, fields in _records(path):
        if not header_checked:
            missing = [c for c in LONG_REQUIRED if c not in fields]
            if missing:
                raise EvalDataError(f"{path}:1: missing column(s) {', '.join(missing)}; a long CSV needs "
                                    f"{', '.join(LONG_REQUIRED)}")
            header_checked = True
        report.rows_read += 1
        where = (str(path), line)
        pid, model = (row.get("id") or "").strip(), (row.get("model") or "").strip()
        if not pid:
            report.rejected.append(BadRow(str(path), line, "id", "empty"))
            continue
        if not model:
            report.rejected.append(BadRow(str(path), line, "model", "empty"))
            continue
        if None in row.values() or None in row:
            report.rejected.append(BadRow(str(path), line, "row", "wrong number of fields"))
            continue
        quality = _truth(row.get("quality") or "")
        if quality is None:
            report.rejected.append(BadRow(str(path), line, "quality",
                                          f"must be a number in [0, 1] or true/false, got {row.get('quality')!r}"))
            continue
        try:
            cell = {"quality": quality}
            tin = _number(row.get("input_tokens"), "input_tokens", where, report, integer=True)
            tout = _number(row.get("output_tokens"), "output_tokens", where, report, integer=True)
            if tout is None:
                report.rejected.append(BadRow(str(path), line, "output_tokens", "empty (not guessed)"))
                continue
            cell["output_tokens"] = tout
            if tin is not None:
                cell["input_tokens"] = tin
            for s in SIGNAL_COLUMNS:
                if s in row:
                    cell[s] = _number(row[s], s, where, report)
        except ValueError:
            continue
        b.put(b.prompt(pid, row.get("prompt") or "", (row.get("group") or "").strip()), model, cell,
              BadRow(str(path), line, "", ""))
    return b.build({})


def _wide_models(fields: list[str]) -> list[str]:
    models = []
    for f in fields:
        if f in RESERVED or any(f.endswith(s) and f[: -len(s)] in fields for s in WIDE_SUFFIXES):
            continue
        models.append(f)
    return models


def _read_wide(paths: list[Path], b: _Builder, *, group_of=lambda p: "", id_of=None,
               count_responses: bool = True) -> tuple[dict[str, list], dict[str, list]]:
    """Rows of one or more wide CSVs into the builder; returns model → [(row index, response)]."""
    report = b.report
    responses: dict[str, list] = {}
    for path in paths:
        models = None
        for line, row, fields in _records(path):
            if models is None:
                if "prompt" not in fields:
                    raise EvalDataError(f"{path}:1: a wide CSV needs a 'prompt' column")
                models = _wide_models(fields)
                if not models:
                    raise EvalDataError(f"{path}:1: no model columns (expected one quality column per model)")
            report.rows_read += 1
            if None in row:
                report.rejected.append(BadRow(str(path), line, "row", "more fields than the header"))
                continue
            pid = (row.get("id") or "").strip() or (id_of(path, line) if id_of else f"{path.stem}:{line}")
            i = None
            for model in models:
                raw = row.get(model)
                if raw is None or raw.strip() == "":
                    continue                                  # missing outcome: reported later
                quality = _truth(raw)
                if quality is None:
                    report.rejected.append(BadRow(str(path), line, model,
                                                  f"quality must be true/false or a number in [0, 1], got {raw[:40]!r}"))
                    continue
                cell = {"quality": quality}
                try:
                    where = (str(path), line)
                    for col, key, integer in ((f"{model}_input_tokens", "input_tokens", True),
                                              (f"{model}_output_tokens", "output_tokens", True),
                                              *((f"{model}_{s}", s, False) for s in SIGNAL_COLUMNS)):
                        if col in row:
                            v = _number(row[col], col, where, report, integer=integer)
                            if v is not None:
                                cell[key] = v
                except ValueError:
                    continue
                if i is None:
                    i = b.prompt(pid, row["prompt"], (row.get("group") or group_of(path)).strip())
                b.put(i, model, cell, BadRow(str(path), line, "", ""))
                resp = row.get(f"{model}_response")
                if resp is not None:
                    responses.setdefault(model, []).append((i, resp))
    return responses


def _fill_outputs(es_builder: _Builder, responses: dict, assume: int | None, notes: dict) -> None:
    for model in es_builder.models:
        cells = [(i, c) for (i, m), c in es_builder.cells.items() if m == model and "output_tokens" not in c]
        if not cells:
            continue
        by_row = dict(responses.get(model, []))
        have = [(i, c) for i, c in cells if i in by_row]
        if have:
            counts, how = _count([by_row[i] for i, _ in have], model)
            for (i, c), n in zip(have, counts):
                c["output_tokens"] = int(n)
            notes[model] = f"output tokens counted from the model's answers, {how}"
        rest = [(i, c) for i, c in cells if i not in by_row]
        if rest:
            if assume is None:
                raise EvalDataError(f"model {model!r}: {len(rest)} prompt(s) have neither output tokens nor an "
                                    "answer to count; pass output_tokens= (an assumption, stated in the results)")
            for _, c in rest:
                c["output_tokens"] = assume
            notes[model] = (notes.get(model, "") + "; " if notes.get(model) else "") + \
                f"output tokens assumed: {assume} per answer"


def load_wide_csv(path: str | Path, *, output_tokens: int | None = None) -> EvalSet:
    path = Path(path)
    report = LoadReport(str(path))
    b = _Builder(path.stem, report)
    responses = _read_wide([path], b)
    notes: dict[str, str] = {}
    _fill_outputs(b, responses, output_tokens, notes)
    return b.build(notes)


def load_routellm_mmlu(folder: str | Path, *, output_tokens: int = MMLU_OUTPUT_TOKENS) -> EvalSet:
    folder = Path(folder)
    files = sorted(folder.glob("mmlu_*.csv"))
    if not files:
        raise EvalDataError(f"{folder}: no mmlu_*.csv files (RouteLLM's mmlu/responses folder)")
    report = LoadReport(str(folder))
    b = _Builder("routellm-mmlu", report)
    subject = lambda p: p.stem[len("mmlu_"):]                         # noqa: E731
    _read_wide(files, b, group_of=subject, id_of=lambda p, line: f"{subject(p)}:{line}")
    notes: dict[str, str] = {}
    _fill_outputs(b, {}, output_tokens, notes)
    for m in b.models:
        notes[m] = f"output tokens assumed: {output_tokens} (MMLU answers are one letter, A–D)"
    es = b.build(notes)
    es.groups = {"subject": es.groups.pop("group")} if "group" in es.groups else es.groups
    return es


GSM8K_FINAL = re.compile(r"####\s*\$?-?[\d,]*\.?\d+")


def load_routellm_gsm8k(path: str | Path) -> EvalSet:
    path = Path(path)
    if path.is_dir():
        path = path / "gsm8k_responses.csv"
    report = LoadReport(str(path))
    b = _Builder("routellm-gsm8k", report)
    responses = _read_wide([path], b, id_of=lambda p, line: f"gsm8k:{line}")
    notes: dict[str, str] = {}
    _fill_outputs(b, responses, None, notes)
    for model, rows in responses.items():          # validation: the answer ends in "#### <number>"
        for i, text in rows:
            b.cells[(i, model)]["valid"] = 1.0 if GSM8K_FINAL.search(text) else 0.0
    report.notes.append("signal 'valid' = the answer contains GSM8K's final-answer form '#### <number>'")
    return b.build(notes)


ANSWER = re.compile(r"\[The Start of Assistant's Answer\]\n(.*?)\n\[The End of Assistant's Answer\]", re.S)


def load_routellm_mtbench(folder: str | Path) -> EvalSet:
    folder = Path(folder)
    qpath, jpath = folder / "question.jsonl", folder / "judgements.jsonl"
    for p in (qpath, jpath):
        if not p.exists():
            raise EvalDataError(f"{p}: not found (RouteLLM's mt_bench folder has question.jsonl and judgements.jsonl)")
    report = LoadReport(str(folder))
    questions: dict[int, dict] = {}
    for line, text in enumerate(qpath.read_text(encoding="utf-8").splitlines(), 1):
        try:
            q = json.loads(text)
            questions[int(q["question_id"])] = q
        except (ValueError, KeyError, TypeError) as e:
            report.rejected.append(BadRow(str(qpath), line, "question", f"unreadable: {e}"))
    b = _Builder("routellm-mtbench", report)
    answers: dict[str, list] = {}
    for line, text in enumerate(jpath.read_text(encoding="utf-8").splitlines(), 1):
        report.rows_read += 1
        try:
            j = json.loads(text)
        except ValueError as e:
            report.rejected.append(BadRow(str(jpath), line, "json", str(e)))
            continue
        if j.get("turn") != 1:
            continue                                   # turn 2 needs the whole conversation: not a single prompt
        qid, score = j.get("question_id"), j.get("score")
        if qid not in questions:
            report.rejected.append(BadRow(str(jpath), line, "question_id", f"{qid!r} not in question.jsonl"))
            continue
        if not isinstance(score, (int, float)) or not 1 <= score <= 10:
            report.rejected.append(BadRow(str(jpath), line, "score", f"judge score must be 1–10, got {score!r}"))
            continue
        q = questions[qid]
        i = b.prompt(f"mtbench:{qid}", q["turns"][0], q.get("category", ""))
        m = ANSWER.search(j.get("user_prompt", ""))
        b.put(i, j["model"], {"quality": float(score) / 10.0}, BadRow(str(jpath), line, "", ""))
        if m:
            answers.setdefault(j["model"], []).append((i, m.group(1)))
    notes: dict[str, str] = {}
    _fill_outputs(b, answers, None, notes)
    report.notes.append("quality = GPT-4 judge score (1–10) / 10, turn 1 only")
    es = b.build(notes)
    es.groups = {"category": es.groups.pop("group")} if "group" in es.groups else es.groups
    return es


LOADERS = {"long-csv": load_long_csv, "wide-csv": load_wide_csv, "routellm-mmlu": load_routellm_mmlu,
           "routellm-gsm8k": load_routellm_gsm8k, "routellm-mtbench": load_routellm_mtbench}


def detect_format(path: Path) -> str:
    if path.is_dir():
        if any(path.glob("mmlu_*.csv")) or (path / "mmlu_responses").is_dir():
            return "routellm-mmlu"
        if (path / "judgements.jsonl").exists():
            return "routellm-mtbench"
        if (path / "gsm8k_responses.csv").exists():
            return "routellm-gsm8k"
        raise EvalDataError(f"{path}: cannot tell the format of this folder; pass --format ({', '.join(FORMATS)})")
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    if set(LONG_REQUIRED) <= set(header):
        return "long-csv"
    if "prompt" in header:
        return "routellm-gsm8k" if path.name == "gsm8k_responses.csv" else "wide-csv"
    raise EvalDataError(f"{path}: cannot tell the format (no 'prompt' column); pass --format ({', '.join(FORMATS)})")


#: Public data sets by name (``workbench.io.datasets``): fetched with a SHA-256 check, or read from
#: ``$WORKBENCH_DATA_MIRROR``.
NAMED = {"routellm-mmlu": ("routellm", "mmlu_responses"), "routellm-gsm8k": ("routellm", "gsm8k"),
         "routellm-mtbench": ("routellm", "mt_bench")}
CACHE_VERSION = "evalset-1"


def resolve(data: str | Path, fmt: str | None = None) -> tuple[Path, str | None]:
    """A path, or a named public data set (``routellm-mmlu`` …) made local."""
    if str(data) in NAMED and not Path(data).exists():
        from workbench.io.datasets import dataset_path
        name, sub = NAMED[str(data)]
        return dataset_path(name) / sub, fmt or str(data)
    return Path(data), fmt


def _cache_key(path: Path, fmt: str, options: dict) -> str:
    import hashlib
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    h = hashlib.sha1(f"{CACHE_VERSION}|{fmt}|{sorted(options.items())}|{path.resolve()}".encode())
    for f in files:
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def _save(es: EvalSet, target: Path) -> None:
    """Arrays in an .npz (no pickle), text and metadata in JSON; written atomically."""
    import os
    import tempfile
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {"name": es.name, "ids": [str(i) for i in es.ids], "prompts": es.prompts, "models": list(es.models),
            "groups": {k: [str(x) for x in v] for k, v in es.groups.items()}, "token_notes": es.token_notes,
            "signals": sorted(es.signals), "report": es.report.to_dict(limit=10_000) if es.report else None}
    arrays = {"quality": es.quality, "input_tokens": es.input_tokens, "output_tokens": es.output_tokens,
              **{f"signal_{k}": v for k, v in es.signals.items()}}
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _restore(target: Path) -> EvalSet:
    with np.load(target, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        r = meta["report"]
        report = None if r is None else LoadReport(r["source"], r["rows_read"], [BadRow(**b) for b in r["rejected"]],
                                                   dict(r["missing"]), list(r["notes"]))
        return EvalSet(meta["name"], np.array(meta["ids"], dtype=object), meta["prompts"], tuple(meta["models"]),
                       z["quality"], z["input_tokens"], z["output_tokens"],
                       {k: z[f"signal_{k}"] for k in meta["signals"]},
                       {k: np.array(v, dtype=object) for k, v in meta["groups"].items()}, meta["token_notes"], report)


def load_eval(path: str | Path, fmt: str | None = None, *, cache: bool | str | Path = False, **options) -> EvalSet:
    """Load evaluation data (a path, or a named public set such as ``routellm-mmlu``).

    ``cache=True`` (or a folder) keeps the loaded arrays in the user cache
    (``~/.cache/llm-cost-workbench/evalsets``), keyed by the files' names, sizes and times, so the
    next load skips parsing and token counting."""
    path, fmt = resolve(path, fmt)
    if not path.exists():
        raise EvalDataError(f"{path}: not found")
    fmt = fmt or detect_format(path)
    if cache:
        folder = Path(cache) if not isinstance(cache, bool) else (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-cost-workbench" / "evalsets")
        target = folder / f"{_cache_key(path, fmt, options)}.npz"
        if target.exists():
            try:
                return _restore(target)
            except (OSError, ValueError, KeyError):
                pass                          # a damaged cache entry is rebuilt
        es = load_eval(path, fmt, **options)
        try:
            _save(es, target)
        except OSError:
            pass                              # a read-only cache only costs the next load
        return es
    if fmt not in LOADERS:
        raise EvalDataError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "routellm-mmlu" and (path / "mmlu_responses").is_dir():
        path = path / "mmlu_responses"
    if fmt == "routellm-mtbench" and (path / "mt_bench").is_dir():
        path = path / "mt_bench"
    return LOADERS[fmt](path, **options)


def tier_prices(models, book, overrides: dict[str, tuple[float, float]] | None = None, day=None):
    """:class:`TierPrice` per model: ``overrides`` (IN/OUT per 1M) first, then the price sheets (every
    evaluation model's price is a dated, sourced sheet record: RouteLLM's Mixtral is ``open-mixtral-8x7b``
    in ``pricing/mistral.yaml``). A model priced nowhere raises (never $0)."""
    from workbench.core.cascade.sweep import TierPrice
    from workbench.core.prices import NoPriceError, UnknownModelError
    overrides = {k.lower(): v for k, v in (overrides or {}).items()}
    out = []
    for m in models:
        if m.lower() in overrides:
            i, o = overrides[m.lower()]
            out.append(TierPrice(m, float(i), float(o), "override (user input)"))
            continue
        try:
            rec = book.price_on(m, day)
            out.append(TierPrice(m, rec.input, rec.output, f"{book.resolve(m)} sheet record of {rec.effective}: "
                                 f"{rec.source}"))
            continue
        except UnknownModelError as e:
            raise EvalDataError(f"no price for {m!r}: not in the price sheets ({e}); pass --price "
                                f"{m}=IN/OUT (USD per 1M tokens)") from None
        except NoPriceError as e:
            raise EvalDataError(f"no price for {m!r} on that day: {e}; pass --on a later day or --price "
                                f"{m}=IN/OUT (USD per 1M tokens)") from None
    return out
