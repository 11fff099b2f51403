"""From measured speed to money: $/1M tokens, cost per day, break-even volume against hosted prices.

Formulas (``tps`` = measured aggregate tokens/s at the chosen load level, ``u`` = utilisation, the
fraction of the hour the hardware does useful work — 1.0 means busy all the time):

* ``usd_per_mtok = usd_per_hour / (3600 × tps × u) × 1e6`` — with output tokens/s for
  ``usd_per_mtok_output`` and input+output tokens/s for ``usd_per_mtok_total``.
* Daily volume ``V`` is counted in output tokens/day; the requests bring ``r`` input tokens per output
  token (measured in the run, or chosen), so a hosted model costs
  ``V × (r × input_price + output_price) / 1e6`` per day.
* Local hardware is paid by the hour whether busy or not. One machine serves at most
  ``capacity = output_tps × 86400 × u`` output tokens/day, so ``ceil(V / capacity)`` machines are needed
  and the local cost is ``machines × usd_per_hour × 24`` per day.
* Break-even: with one machine costing ``F = usd_per_hour × 24`` per day and the hosted model
  ``c`` $/output token (input included by the ratio), local is cheaper from ``V* = F / c`` output
  tokens/day — if ``V*`` fits on one machine (``V* ≤ capacity``). Otherwise the hosted model is always
  cheaper at this throughput (adding machines does not help: each one costs ``F`` for ``capacity``).

Hardware presets come from the price sheet ``pricing/self-hosted.yaml`` (``hardware:`` list, each with a
source); any price can be overridden. A small local model is not a like-for-like replacement for a hosted
frontier model: see :data:`QUALITY_WARNING`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

QUALITY_WARNING = (
    "Quality is not comparable: a small local model (for example SmolLM2-135M) answers far worse than a "
    "hosted frontier model. Compare costs only between models that pass the same quality bar on your task."
)

SECONDS_PER_DAY = 86400.0

#: Hosted models offered for comparison by default (the first ones found in the price book are used).
DEFAULT_HOSTED = (
    "gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4.1", "claude-3-5-haiku", "claude-haiku-4-5",
    "claude-sonnet-4", "claude-sonnet-4-5", "gemini-2.0-flash", "gemini-2.5-flash", "mistral-small",
)


@dataclass(frozen=True)
class HardwarePreset:
    id: str
    name: str
    usd_per_hour: float
    effective: str
    source: str
    note: str = ""
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def self_hosted_sheet() -> Path:
    try:
        from workbench.io.pricesheets import default_pricing_dir

        return default_pricing_dir() / "self-hosted.yaml"
    except ImportError:  # pragma: no cover - the io package is part of the project
        return Path(__file__).resolve().parents[2] / "pricing" / "self-hosted.yaml"


def hardware_presets(
    path: str | Path | None = None, overrides: Mapping[str, float] | None = None
) -> list[HardwarePreset]:
    """Hardware presets from the self-hosted price sheet (empty if the sheet is absent).

    ``overrides`` maps a preset id to the user's own $/hour; an id not in the sheet adds a custom preset.
    """
    from workbench.io.safe_yaml import brief, load_yaml

    path = Path(path) if path else self_hosted_sheet()
    raw: list[dict[str, Any]] = []
    if path.exists():
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
        raw = list(doc.get("hardware") or [])
    presets = []
    for h in raw:
        if not isinstance(h, dict) or "id" not in h or "usd_per_hour" not in h:
            raise ValueError(f"{path}: hardware entry without id or usd_per_hour: {brief(h)}")
        presets.append(HardwarePreset(
            id=str(h["id"]), name=str(h.get("name") or h["id"]), usd_per_hour=float(h["usd_per_hour"]),
            effective=str(h.get("effective") or ""), source=str(h.get("source") or ""), note=str(h.get("note") or ""),
        ))
    for key, value in (overrides or {}).items():
        value = float(value)
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"hardware price for {key!r} must be a finite number >= 0, got {value}")
        for i, p in enumerate(presets):
            if p.id == key:
                presets[i] = HardwarePreset(p.id, p.name, value, dt.date.today().isoformat(), "user override",
                                            p.note, True)
                break
        else:
            presets.append(HardwarePreset(key, key, value, dt.date.today().isoformat(), "user override", "", True))
    return presets


def hardware_price(preset_id: str, path: str | Path | None = None,
                   overrides: Mapping[str, float] | None = None) -> HardwarePreset:
    """One preset by id; ``KeyError`` listing the known ids."""
    presets = hardware_presets(path, overrides)
    for p in presets:
        if p.id == preset_id:
            return p
    raise KeyError(f"unknown hardware preset {preset_id!r}; known: {', '.join(p.id for p in presets) or 'none'}")


def usd_per_mtok(usd_per_hour: float, tokens_per_s: float, utilisation: float = 1.0) -> float:
    """Cost of 1M tokens at ``tokens_per_s`` on hardware costing ``usd_per_hour``, busy ``utilisation`` of the time."""
    if usd_per_hour < 0:
        raise ValueError("usd_per_hour must be >= 0")
    if not tokens_per_s or tokens_per_s <= 0:
        raise ValueError("tokens_per_s must be > 0")
    if not 0 < utilisation <= 1:
        raise ValueError("utilisation must be in (0, 1]")
    return usd_per_hour / (3600.0 * tokens_per_s * utilisation) * 1e6


@dataclass(frozen=True)
class LocalCost:
    """The cost of serving on local hardware at a measured throughput."""

    usd_per_hour: float
    utilisation: float
    output_tokens_per_s: float
    total_tokens_per_s: float
    input_per_output: float
    usd_per_mtok_output: float
    usd_per_mtok_total: float
    capacity_output_tokens_per_day: float
    hardware: str = ""

    @property
    def usd_per_day(self) -> float:
        """One machine, always on."""
        return self.usd_per_hour * 24.0

    def cost_per_day(self, output_tokens_per_day: float) -> float:
        """Whole machines needed for the volume, always on."""
        if output_tokens_per_day <= 0:
            return 0.0
        machines = math.ceil(output_tokens_per_day / self.capacity_output_tokens_per_day - 1e-12)
        return max(1, machines) * self.usd_per_day

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "usd_per_day": self.usd_per_day}


def local_cost(
    output_tokens_per_s: float,
    usd_per_hour: float,
    *,
    utilisation: float = 1.0,
    total_tokens_per_s: float | None = None,
    input_per_output: float | None = None,
    hardware: str = "",
) -> LocalCost:
    """$/1M output and total tokens and daily capacity from a measured throughput.

    ``total_tokens_per_s`` defaults to ``output_tokens_per_s × (1 + input_per_output)``;
    ``input_per_output`` defaults to the ratio implied by the two throughputs (or 0).
    """
    if input_per_output is None:
        input_per_output = (total_tokens_per_s / output_tokens_per_s - 1.0) if total_tokens_per_s else 0.0
    if total_tokens_per_s is None:
        total_tokens_per_s = output_tokens_per_s * (1.0 + input_per_output)
    return LocalCost(
        usd_per_hour=float(usd_per_hour),
        utilisation=float(utilisation),
        output_tokens_per_s=float(output_tokens_per_s),
        total_tokens_per_s=float(total_tokens_per_s),
        input_per_output=float(input_per_output),
        usd_per_mtok_output=usd_per_mtok(usd_per_hour, output_tokens_per_s, utilisation),
        usd_per_mtok_total=usd_per_mtok(usd_per_hour, total_tokens_per_s, utilisation),
        capacity_output_tokens_per_day=output_tokens_per_s * SECONDS_PER_DAY * utilisation,
        hardware=hardware,
    )


def local_cost_from_summary(summary: Mapping[str, Any], usd_per_hour: float, *, utilisation: float = 1.0,
                            hardware: str = "") -> LocalCost:
    """:func:`local_cost` from a level summary (``output_tokens_per_s``, ``total_tokens_per_s``, token totals)."""
    out_tps = summary.get("output_tokens_per_s")
    if not out_tps:
        raise ValueError("the run has no measured output throughput (no successful request?)")
    out_tok = summary.get("output_tokens") or 0
    in_tok = summary.get("input_tokens") or 0
    ratio = in_tok / out_tok if out_tok else 0.0
    return local_cost(out_tps, usd_per_hour, utilisation=utilisation,
                      total_tokens_per_s=summary.get("total_tokens_per_s"), input_per_output=ratio,
                      hardware=hardware)


@dataclass(frozen=True)
class HostedPrice:
    model: str
    input: float  # USD per 1M input tokens
    output: float  # USD per 1M output tokens
    source: str = ""
    effective: str = ""

    def usd_per_output_token(self, input_per_output: float) -> float:
        """What one output token costs, the input that comes with it included."""
        return (input_per_output * self.input + self.output) / 1e6

    def cost_per_day(self, output_tokens_per_day: float, input_per_output: float) -> float:
        return output_tokens_per_day * self.usd_per_output_token(input_per_output)


def hosted_prices(models: Iterable[str] | None = None, *, book=None, date=None) -> tuple[list[HostedPrice], list[str]]:
    """Current prices of hosted models from the price book; returns (prices, names not found).

    With ``models=None`` the first few of :data:`DEFAULT_HOSTED` present in the book are used.
    """
    if book is None:
        from workbench.io.pricesheets import load_prices

        book = load_prices()
    from workbench.core.prices import PriceError

    if models is None:
        models = [m for m in DEFAULT_HOSTED if m in book][:5]
    out, missing = [], []
    for name in models:
        try:
            rec = book.price_on(name, date)
            info = book.model(name)
        except (PriceError, KeyError):
            missing.append(name)
            continue
        out.append(HostedPrice(info.id, float(rec.input), float(rec.output), str(rec.source), str(rec.effective)))
    return out, missing


@dataclass(frozen=True)
class BreakEven:
    model: str
    hosted_usd_per_mtok_output: float  # per 1M output tokens, the matching input included
    local_usd_per_mtok_output: float  # at full planned utilisation of one machine
    break_even_output_tokens_per_day: float | None  # None: local is never cheaper at this throughput
    capacity_output_tokens_per_day: float
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def break_even(local: LocalCost, hosted: Sequence[HostedPrice], input_per_output: float | None = None) -> list[BreakEven]:
    """Daily output-token volume above which local hardware costs less than each hosted model."""
    ratio = local.input_per_output if input_per_output is None else input_per_output
    out = []
    for h in hosted:
        c = h.usd_per_output_token(ratio)
        local_per_token_full = local.usd_per_day / local.capacity_output_tokens_per_day
        if c <= 0:
            v, note = None, "hosted price is zero"
        else:
            v = local.usd_per_day / c
            if v > local.capacity_output_tokens_per_day * (1 + 1e-12):
                v, note = None, ("local never cheaper: one machine at full load costs "
                                 f"${local_per_token_full * 1e6:.4g}/1M output tokens, hosted ${c * 1e6:.4g}")
            else:
                note = (f"local cheaper from {v:,.0f} output tokens/day "
                        f"({v / local.capacity_output_tokens_per_day:.0%} of one machine's capacity)")
        out.append(BreakEven(h.model, c * 1e6, local_per_token_full * 1e6, v,
                             local.capacity_output_tokens_per_day, note))
    return out


def cost_vs_volume(local: LocalCost, hosted: Sequence[HostedPrice], *, input_per_output: float | None = None,
                   volumes: Sequence[float] | None = None, local_label: str = "local"):
    """Cost per day at each daily volume, local and hosted, as a long pandas DataFrame."""
    import numpy as np
    import pandas as pd

    ratio = local.input_per_output if input_per_output is None else input_per_output
    if volumes is None:
        cap = local.capacity_output_tokens_per_day
        hi = max(cap * 4, 1e6)
        for be in break_even(local, hosted, ratio):
            if be.break_even_output_tokens_per_day:
                hi = max(hi, be.break_even_output_tokens_per_day * 2)
        lo = max(hi / 1e5, 1.0)
        grid = list(np.geomspace(lo, hi, 80))
        k = 1
        while k * cap <= hi and k < 200:  # the edges of the machine-count steps, so the stairs show
            grid += [k * cap, k * cap * (1 + 1e-6)]
            k += 1
        volumes = sorted(set(grid))
    rows = []
    for v in volumes:
        rows.append({"output_tokens_per_day": float(v), "usd_per_day": local.cost_per_day(v),
                     "option": local_label, "kind": "local"})
        for h in hosted:
            rows.append({"output_tokens_per_day": float(v), "usd_per_day": h.cost_per_day(v, ratio),
                         "option": h.model, "kind": "hosted"})
    return pd.DataFrame(rows)


def cost_vs_volume_chart(local: LocalCost, hosted: Sequence[HostedPrice], *, input_per_output: float | None = None,
                         local_label: str = "local", width: int = 560, height: int = 320):
    """Altair chart: cost/day vs daily volume (log–log), local stairs and hosted lines, break-evens marked."""
    import altair as alt
    import pandas as pd

    frame = cost_vs_volume(local, hosted, input_per_output=input_per_output, local_label=local_label)
    frame = frame[frame["usd_per_day"] > 0]
    x = alt.X("output_tokens_per_day:Q", scale=alt.Scale(type="log"), title="output tokens per day")
    y = alt.Y("usd_per_day:Q", scale=alt.Scale(type="log"), title="USD per day")
    tooltip = ["option", alt.Tooltip("output_tokens_per_day:Q", format=",.0f"),
               alt.Tooltip("usd_per_day:Q", format="$,.2f")]
    hosted_lines = alt.Chart(frame[frame["kind"] == "hosted"]).mark_line(strokeDash=[6, 3]).encode(
        x=x, y=y, color=alt.Color("option:N", title="hosted (dashed)"), tooltip=tooltip)
    local_line = alt.Chart(frame[frame["kind"] == "local"]).mark_line(color="black", strokeWidth=3).encode(
        x=x, y=y, detail="option:N", tooltip=tooltip)
    lines = hosted_lines + local_line
    points = [
        {"output_tokens_per_day": b.break_even_output_tokens_per_day, "usd_per_day": local.usd_per_day,
         "option": b.model}
        for b in break_even(local, hosted, input_per_output) if b.break_even_output_tokens_per_day
    ]
    layers = [lines]
    if points:
        layers.append(alt.Chart(pd.DataFrame(points)).mark_point(size=80, filled=True, color="black").encode(
            x="output_tokens_per_day:Q", y="usd_per_day:Q",
            tooltip=[alt.Tooltip("option:N", title="break-even vs"),
                     alt.Tooltip("output_tokens_per_day:Q", format=",.0f")]))
    return alt.layer(*layers).properties(
        width=width, height=height,
        title=alt.TitleParams(f"Cost per day vs volume: {local_label} (black) vs hosted",
                              subtitle=["A small local model is not frontier quality: compare like with like."]),
    )
