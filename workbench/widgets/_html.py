"""Small HTML pieces shared by the apps' views: page style, badges, tables, inline errors.

Pure string building (no widgets); every value that came from the user or a sheet is escaped.
"""
from __future__ import annotations

import datetime as dt
import math
from html import escape
from typing import Any, Mapping, Sequence

#: One stylesheet for all apps, scoped under ``.wb-app``. Voila's light theme sets the fonts.
STYLE = """<style>
.wb-app { font-size: 14px; color: #1f2328; }
.wb-app .widget-html-content { line-height: 1.45; }
/* narrow windows (1024 px): wide tables and fixed-width charts scroll inside their box, never cut off */
.wb-app .widget-html, .wb-app .widget-html-content { max-width: 100%; }
.wb-app .widget-html-content { overflow-x: auto; }
.wb-app [class*="wb-chart"], .wb-app .wb-scroll-x { max-width: 100%; overflow-x: auto; }
.wb-app h1.wb-title { font-size: 24px; font-weight: 600; margin: 12px 0 2px 0; }
.wb-app p.wb-subtitle { color: #57606a; margin: 0 0 12px 0; max-width: 820px; line-height: 1.45; }
.wb-app h2.wb-section { font-size: 16px; font-weight: 600; margin: 18px 0 6px 0;
  padding-bottom: 4px; border-bottom: 1px solid #d8dee4; }
.wb-app .wb-label { display: inline-block; width: 70px; color: #57606a; font-weight: 500; }
.wb-app table.wb-table { border-collapse: collapse; width: 100%; margin: 4px 0 6px 0;
  font-variant-numeric: tabular-nums; }
.wb-app table.wb-table th { text-align: left; font-weight: 600; color: #57606a; font-size: 12px;
  text-transform: uppercase; letter-spacing: .03em; padding: 6px 10px;
  border-bottom: 2px solid #d8dee4; white-space: nowrap; }
.wb-app table.wb-table th.wb-sorted { color: #0969da; }
.wb-app table.wb-table td { padding: 6px 10px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
.wb-app table.wb-table tr:hover td { background: #f6f8fa; }
.wb-app table.wb-table .wb-num { text-align: right; white-space: nowrap; }
.wb-app .wb-sub { color: #6e7781; font-size: 12px; margin-top: 1px; }
.wb-app p.wb-sub { margin-top: 10px; max-width: 860px; }
.wb-app p.wb-sub a { color: #0969da; }
.wb-app .wb-note { color: #57606a; font-size: 12px; line-height: 1.35; max-width: 600px; }
.wb-app .wb-note summary { cursor: pointer; }
.wb-app .wb-note details > div { margin: 4px 0 2px 14px; color: #6e7781; }
.wb-app .wb-badge { display: inline-block; font-size: 11px; font-weight: 600; line-height: 16px;
  padding: 0 6px; border-radius: 8px; margin-left: 6px; vertical-align: 1px; cursor: help; }
.wb-app .wb-badge.wb-exact { background: #dafbe1; color: #116329; border: 1px solid #aceebb; }
.wb-app .wb-badge.wb-estimate { background: #fff8c5; color: #7d4e00; border: 1px solid #f2d76b; }
.wb-app .wb-bar { display: inline-block; width: 90px; height: 8px; background: #eaeef2;
  border-radius: 4px; overflow: hidden; vertical-align: middle; margin-right: 6px; }
.wb-app .wb-bar > span { display: block; height: 100%; background: #0969da; }
.wb-app .wb-bar.wb-over > span { background: #cf222e; }
.wb-app .wb-error { color: #cf222e; background: #ffebe9; border: 1px solid #ffcecb;
  border-radius: 6px; padding: 6px 10px; margin: 4px 0; font-size: 13px; }
.wb-app .wb-stats { color: #57606a; margin: 4px 0; }
.wb-app .wb-stats b { color: #1f2328; }
.wb-app .wb-empty { color: #6e7781; font-style: italic; padding: 8px 0; }
.wb-app .wb-card { border: 1px solid #d8dee4; border-radius: 8px; padding: 12px 16px; margin: 10px 0; }
.wb-app .wb-card a { font-size: 16px; font-weight: 600; color: #0969da; text-decoration: none; }
.wb-app .wb-card a:hover { text-decoration: underline; }
.wb-app .wb-card p { margin: 4px 0 0 0; color: #57606a; }
</style>"""


def header(title: str, subtitle: str = "") -> str:
    sub = f"<p class='wb-subtitle'>{escape(subtitle)}</p>" if subtitle else ""
    return f"<h1 class='wb-title'>{escape(title)}</h1>{sub}"


def section(title: str) -> str:
    return f"<h2 class='wb-section'>{escape(title)}</h2>"


def error(message: str, field: str = "") -> str:
    """An inline error box (empty string when there is no message)."""
    if not message:
        return ""
    return f"<div class='wb-error' data-testid='error-{escape(field)}'>{escape(message)}</div>"


def badge(method: str, note: str = "") -> str:
    """A small coloured ``exact``/``estimate`` label; the note is its tooltip."""
    kind = "exact" if method == "exact" else "estimate"
    return (f"<span class='wb-badge wb-{kind}' data-testid='badge' "
            f"title='{escape(note, quote=True)}'>{kind}</span>")


def usd(value: float | None) -> str:
    """Dollars with enough digits to see the size of tiny amounts ($0.000125)."""
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) >= 0.01:
        return f"${value:,.4f}"
    digits = 2 - math.floor(math.log10(abs(value)))  # 3 significant digits
    return f"${value:.{digits}f}".rstrip("0")


def rate(value: float | None) -> str:
    """A USD-per-1M rate: ``$2.50``, ``$0.075``."""
    if value is None:
        return "—"
    return f"${value:,.2f}" if round(value, 2) == value else f"${value:,.4g}"


def tokens(n: int) -> str:
    return f"{n:,}"


def stats(characters: int, extra: str = "") -> str:
    return (f"<div class='wb-stats' data-testid='stats'><b data-testid='characters'>{characters:,}</b>"
            f" characters{escape(extra)}</div>")


def families_table(families: Sequence[Mapping[str, Any]]) -> str:
    if not families:
        return "<div class='wb-empty'>No result yet.</div>"
    body = "".join(
        f"<tr data-testid='family-{escape(f['tokenizer'])}'>"
        f"<td>{escape(f['label'])}<div class='wb-sub'>{escape(f['tokenizer'])}</div></td>"
        f"<td class='wb-num'><span data-testid='tokens'>{tokens(f['tokens'])}</span>"
        f"{badge(f['method'], f['note'])}</td>"
        f"<td class='wb-note'>{note_details(f['note'])}</td></tr>"
        for f in families
    )
    return ("<table class='wb-table' data-testid='families-table'><thead><tr><th>Family</th>"
            "<th class='wb-num'>Tokens</th><th>How it is counted</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def short_note(note: str) -> str:
    """The first clause of a token-count note: ``"o200k_base count x 1.20"``."""
    text = note.split(":", 1)[1] if note.startswith(("exact:", "estimate:")) else note
    return text.split(";")[0].split(" (")[0].strip()


def note_details(note: str) -> str:
    """A note folded to its first clause; click to read the rest (error band, sources)."""
    return (f"<details><summary>{escape(short_note(note))}</summary>"
            f"<div>{escape(note)}</div></details>")


def context_cell(fraction: float | None, window: int | None) -> str:
    if fraction is None or not window:
        return "<span class='wb-sub'>unknown window</span>"
    pct = 100 * fraction
    over = " wb-over" if fraction > 1 else ""
    text = f"{pct:.1f}%" if pct >= 0.1 or pct == 0 else "<0.1%"
    return (f"<span class='wb-bar{over}'><span style='width:{min(100.0, pct):.1f}%'></span></span>"
            f"<span data-testid='context'>{text}</span>"
            f"<div class='wb-sub'>of {window:,} tokens</div>")


def cost_table(rows: Sequence[Mapping[str, Any]], sort_by: str, descending: bool,
               titles: Mapping[str, str]) -> str:
    if not rows:
        return "<div class='wb-empty'>Choose one or more models above.</div>"
    arrow = " ↓" if descending else " ↑"

    def th(key: str, num: bool = True) -> str:
        cls = ("wb-num " if num else "") + ("wb-sorted" if key == sort_by else "")
        return f"<th class='{cls}'>{escape(titles[key])}{arrow if key == sort_by else ''}</th>"

    body = []
    for r in rows:
        if r["price_error"]:
            price = f"<td class='wb-num' colspan='2'><span class='wb-sub'>{escape(r['price_error'])}</span></td>"
        else:
            rates = (f"{rate(r['input_rate'])} / {rate(r['output_rate'])} per 1M"
                    f" · from {escape(r['effective'])}")
            price = (f"<td class='wb-num' data-testid='input-usd' title='{escape(r['source'], quote=True)}'>"
                     f"{usd(r['input_usd'])}<div class='wb-sub'>{rates}</div></td>"
                     f"<td class='wb-num' data-testid='output-usd'>{usd(r['output_usd'])}</td>")
        body.append(
            f"<tr data-testid='row-{escape(r['model'])}'>"
            f"<td><b>{escape(r['label'])}</b><div class='wb-sub'>{escape(r['vendor'])}"
            f"{' · ' + escape(r['model']) if r['label'] != r['model'] else ''}</div></td>"
            f"<td class='wb-num'><span data-testid='tokens'>{tokens(r['tokens'])}</span>"
            f"{badge(r['method'], r['note'])}<div class='wb-sub'>{escape(r['tokenizer'])}</div></td>"
            f"{price}<td>{context_cell(r['context'], r['context_window'])}</td></tr>"
        )
    head = f"<tr>{th('model', False)}{th('tokens')}{th('input_usd')}{th('output_usd')}{th('context', False)}</tr>"
    return (f"<table class='wb-table' data-testid='cost-table'><thead>{head}</thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def footer(rows: Sequence[Mapping[str, Any]], day: dt.date) -> str:
    return (f"<p class='wb-sub'>Prices in force on {day.isoformat()} from the reviewed sheets in "
            "<code>pricing/</code>, USD. “Cost as input” prices the text as the prompt of one request, "
            "“cost as output” as the reply. Hover a badge for how a count was made and its expected "
            "error, a cost for its source.</p>")
