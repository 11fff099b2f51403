#!/usr/bin/env python
"""Write ``sample_data/``: one week of LLM traffic of a fictional SaaS help-desk product.

    python scripts/make_sample_data.py            # regenerate sample_data/ (deterministic, seed 20251103)
    python scripts/make_sample_data.py --measure  # re-measure the real-trace figures from ../shared/data

The product, "Helpdeskly", serves a dozen online shops (its tenants, on free / pro / enterprise
plans) with four LLM features: ``support_chat`` (multi-turn customer chat), ``rag_answer``
(single-turn answers from the shop's help centre), ``classification`` (routing incoming tickets)
and ``nightly_summary`` (a batch-eligible digest of the previous day's tickets).

Nothing from the public data sets is copied: the token and arrival parameters below were
*measured* on them (``FIGURES``; ``--measure`` recomputes them and a test compares), and the
user questions are rendered from this script's own templates over the intent list of the Bitext
customer-support set, with paraphrase variations in the proportions Bitext's tags report.
``sample_data/README.md`` documents the files, the columns and every figure used.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.core.schema import COLUMNS, COLUMN_NAMES  # noqa: E402
from workbench.core.tokens import count_batch  # noqa: E402

SEED = 20251103
START = pd.Timestamp("2025-11-03 00:00", tz="UTC")  # a Monday
DAYS = 7
OUT_DIR = ROOT / "sample_data"
SHARED_DATA = ROOT.parent / "shared" / "data"

# ------------------------------------------------------------------------------------------------
# Figures measured on the real traces (../shared/data). `--measure` recomputes every one of them.
# ------------------------------------------------------------------------------------------------
FIGURES: dict[str, float] = {
    # Azure LLM inference trace 2023, "conv" service (19,366 requests, 58.4 min)
    "conv_input_mu": 6.6333, "conv_input_sigma": 0.9852,     # ln(ContextTokens): mean / std
    "conv_output_mu": 5.0190, "conv_output_sigma": 0.8590,   # ln(GeneratedTokens)
    "conv_input_mean": 1154.7, "conv_output_mean": 211.1,
    "conv_rate_per_s": 5.530,
    "conv_minute_cv": 0.286,          # coefficient of variation of requests per minute
    # Azure "code" service (8,819 requests, 57.3 min)
    "code_input_mu": 6.9986, "code_input_sigma": 1.3602,
    "code_output_mu": 2.7882, "code_output_sigma": 0.8472,
    "code_input_mean": 2047.8, "code_output_mean": 27.9,
    "code_rate_per_s": 2.567,
    "code_minute_cv": 0.773,
    # Bitext customer-support sample (4,514 requests, 27 intents): share of requests per tag
    "bitext_intents": 27, "bitext_mean_words": 8.02,
    "bitext_tag_I": 0.2494,   # interrogative
    "bitext_tag_K": 0.1471,   # keyword mode ("cancel order")
    "bitext_tag_P": 0.0490,   # politeness
    "bitext_tag_Q": 0.3434,   # colloquial
    "bitext_tag_W": 0.0454,   # offensive (rendered here as plain frustration)
    "bitext_tag_C": 0.0871,   # coordinated (two requests in one)
    "bitext_tag_Z": 0.1803,   # noise: typos
    # GPTCache QQP sample: word-set Jaccard similarity of duplicate / non-duplicate pairs
    "qqp_duplicate_share": 0.3925, "qqp_jaccard_dup": 0.4803, "qqp_jaccard_nondup": 0.3086,
    "gptcache_mock_jaccard": 0.5517,
    # MT-Bench: words in turn 2 / words in turn 1
    "mtbench_turn2_turn1_words": 0.3654,
    # RouteLLM MMLU: share answered correctly (cheap Mixtral-8x7B / strong GPT-4-1106)
    "routellm_mmlu_cheap": 0.6808, "routellm_mmlu_strong": 0.8058,
}


def _gap_cv_per_minute(ts: pd.Series) -> float:
    per_min = ts.dt.floor("1min").value_counts()
    return float(per_min.std() / per_min.mean())


def measure(data: Path = SHARED_DATA) -> dict[str, float]:
    """Recompute :data:`FIGURES` from the public data sets (rounded as stored)."""
    out: dict[str, float] = {}
    for svc in ("conv", "code"):
        d = pd.read_csv(data / "azure_llm_2023" / f"AzureLLMInferenceTrace_{svc}.csv")
        ts = pd.to_datetime(d["TIMESTAMP"]).sort_values()
        for col, name in (("ContextTokens", "input"), ("GeneratedTokens", "output")):
            x = d[col].to_numpy(dtype=float)
            ln = np.log(x[x > 0])
            out[f"{svc}_{name}_mu"] = round(float(ln.mean()), 4)
            out[f"{svc}_{name}_sigma"] = round(float(ln.std()), 4)
            out[f"{svc}_{name}_mean"] = round(float(x.mean()), 1)
        out[f"{svc}_rate_per_s"] = round(len(ts) / (ts.iloc[-1] - ts.iloc[0]).total_seconds(), 3)
        out[f"{svc}_minute_cv"] = round(_gap_cv_per_minute(ts), 3)
    b = pd.read_csv(data / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv")
    out["bitext_intents"] = int(b["intent"].nunique())
    out["bitext_mean_words"] = round(float(b["instruction"].str.split().str.len().mean()), 2)
    tags = b["tags"].fillna("")
    for t in "IKPQWCZ":
        out[f"bitext_tag_{t}"] = round(float(tags.str.contains(t).mean()), 4)
    q = pd.read_json(data / "gptcache_qqp" / "qqp_pairs_sample2000.jsonl", lines=True)
    jac = np.array([_jaccard(a, b_) for a, b_ in zip(q["text_a"], q["text_b"])])
    out["qqp_duplicate_share"] = round(float(q["label"].mean()), 4)
    out["qqp_jaccard_dup"] = round(float(jac[q["label"] == 1].mean()), 4)
    out["qqp_jaccard_nondup"] = round(float(jac[q["label"] == 0].mean()), 4)
    mock = json.loads((data / "gptcache_qqp" / "mock_data.json").read_text())
    out["gptcache_mock_jaccard"] = round(float(np.mean([_jaccard(m["origin"], m["similar"]) for m in mock])), 4)
    mt = pd.read_json(data / "mt_bench" / "mt_bench__question.jsonl", lines=True)
    w1 = mt["turns"].str[0].str.split().str.len().sum()
    w2 = mt["turns"].str[1].str.split().str.len().sum()
    out["mtbench_turn2_turn1_words"] = round(float(w2 / w1), 4)
    import glob

    mm = pd.concat([pd.read_csv(f) for f in sorted(glob.glob(str(data / "routellm" / "mmlu_responses" / "*.csv")))])
    out["routellm_mmlu_cheap"] = round(float(mm["mistralai/Mixtral-8x7B-Instruct-v0.1"].mean()), 4)
    out["routellm_mmlu_strong"] = round(float(mm["gpt-4-1106-preview"].mean()), 4)
    return out


def _jaccard(a: str, b: str) -> float:
    x, y = set(re.findall(r"[a-z0-9]+", a.lower())), set(re.findall(r"[a-z0-9]+", b.lower()))
    return len(x & y) / max(1, len(x | y))


# ------------------------------------------------------------------------------------------------
# The product: tenants, models, features, system prompts
# ------------------------------------------------------------------------------------------------
TENANTS = pd.DataFrame([
    # tenant, name, plan, region (UTC offset of its customers), seats, traffic weight, budget
    ("acme", "Acme Outdoor", "enterprise", "us", -5, 120, 0.20, 300),
    ("globex", "Globex Home", "enterprise", "eu", 1, 95, 0.15, 250),
    ("initech", "Initech Office Supply", "enterprise", "us", -6, 80, 0.12, 200),
    ("contoso", "Contoso Coffee", "pro", "eu", 1, 25, 0.08, 80),
    ("fabrikam", "Fabrikam Fashion", "pro", "us", -8, 22, 0.07, 70),
    ("northwind", "Northwind Traders", "pro", "eu", 0, 20, 0.07, 60),
    ("hooli", "Hooli Gadgets", "pro", "us", -8, 18, 0.06, 60),
    ("vandelay", "Vandelay Imports", "pro", "us", -5, 12, 0.05, 50),
    ("piedpiper", "Pied Piper Audio", "free", "us", -8, 3, 0.03, 10),
    ("tyrell", "Tyrell Pets", "free", "apac", 9, 2, 0.025, 10),
    ("wonka", "Wonka Sweets", "free", "eu", 1, 2, 0.02, 10),
    ("umbrella", "Umbrella Pharmacy", "free", "apac", 8, 1, 0.015, 10),
], columns=["tenant", "name", "plan", "region", "utc_offset_h", "seats", "weight", "monthly_budget_usd"])

#: model id as logged -> vendor, quality tier, output tokens/s, minimum cacheable prefix
MODELS = {
    "claude-sonnet-4-5-20250929": ("anthropic", "strong", 65.0, 1024),
    "claude-haiku-4-5-20251001": ("anthropic", "cheap", 140.0, 4096),
    "gpt-4.1-2025-04-14": ("openai", "strong", 85.0, 1024),
    "gpt-4.1-mini-2025-04-14": ("openai", "cheap", 120.0, 1024),
    "gemini-2.5-flash-lite": ("google", "cheap", 260.0, 0),
}
#: feature -> plan -> model
ROUTES = {
    "support_chat": {"enterprise": "claude-sonnet-4-5-20250929", "pro": "claude-sonnet-4-5-20250929",
                     "free": "claude-haiku-4-5-20251001"},
    "rag_answer": {"enterprise": "gpt-4.1-2025-04-14", "pro": "gpt-4.1-mini-2025-04-14",
                   "free": "gpt-4.1-mini-2025-04-14"},
    "classification": {p: "gemini-2.5-flash-lite" for p in ("enterprise", "pro", "free")},
    "nightly_summary": {"enterprise": "gpt-4.1-2025-04-14", "pro": "gpt-4.1-2025-04-14"},
}
#: logical requests per week for a tenant of weight 1 (scaled by tenant weight / sum of weights)
WEEKLY_VOLUME = {"support_chat": 5600, "rag_answer": 18000, "classification": 12000}
#: day-of-week factors (Mon..Sun, UTC day)
WEEKDAY = {
    "support_chat": (1.0, 1.02, 1.0, 0.98, 0.95, 0.62, 0.55),
    "rag_answer": (1.0, 1.03, 1.0, 0.97, 0.93, 0.58, 0.52),
    "classification": (1.0, 1.0, 0.98, 0.98, 0.95, 0.45, 0.40),
}
#: nightly summary: map-step calls per night for an enterprise / pro tenant before day factors
NIGHTLY_CHUNKS = {"enterprise": 75, "pro": 28}

SYSTEM_TOKENS = {"support_chat": 1850, "rag_answer": 1150, "classification": 450,
                 "nightly_summary/map": 1300, "nightly_summary/reduce": 1100}
SUPPORT_PROMPT_DEPLOY = pd.Timestamp("2025-11-05 14:00", tz="UTC")  # default support prompt v7 -> v8
TTL_S = {"anthropic": 300.0, "openai": 600.0}
OPENAI_CACHE_HIT = 0.9   # chance a warm OpenAI prefix is actually hit (requests are routed by prefix hash)
TIMEOUT_S = {"support_chat": 20.0, "rag_answer": 20.0, "classification": 30.0, "nightly_summary": 120.0}
MAX_ATTEMPTS = {"support_chat": 3, "rag_answer": 3, "classification": 5, "nightly_summary": 5}
P_ERROR = {"anthropic": 0.010, "openai": 0.006, "google": 0.004}   # 5xx / overloaded, per attempt
P_NET_TIMEOUT = 0.002                                              # network stalls, per attempt
P_RATE_LIMITED = {"free": 0.010, "pro": 0.002, "enterprise": 0.002}

#: the injected anomaly: a runaway integration of one tenant re-asking help-centre questions
SPIKE = dict(feature="rag_answer", tenant="initech", day="2025-11-09", start_h=6.0, end_h=22.0,
             extra_requests=3600, clusters=12, p_rate_limited=0.15)


def _hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def system_prompts() -> pd.DataFrame:
    rows = [
        ("support_chat/default/v7", "support_chat", "free and pro tenants", "v7", SYSTEM_TOKENS["support_chat"],
         START, SUPPORT_PROMPT_DEPLOY),
        ("support_chat/default/v8", "support_chat", "free and pro tenants", "v8", SYSTEM_TOKENS["support_chat"] + 60,
         SUPPORT_PROMPT_DEPLOY, None),
    ]
    for t in TENANTS.loc[TENANTS["plan"] == "enterprise", "tenant"]:
        rows.append((f"support_chat/{t}/v3", "support_chat", f"tenant {t}", "v3",
                     SYSTEM_TOKENS["support_chat"] + 420, START, None))
    rows += [
        ("rag_answer/default/v4", "rag_answer", "all tenants", "v4", SYSTEM_TOKENS["rag_answer"], START, None),
        ("classification/v12", "classification", "all tenants", "v12", SYSTEM_TOKENS["classification"], START, None),
        ("nightly_summary/map/v2", "nightly_summary", "pro and enterprise", "v2",
         SYSTEM_TOKENS["nightly_summary/map"], START, None),
        ("nightly_summary/reduce/v2", "nightly_summary", "pro and enterprise", "v2",
         SYSTEM_TOKENS["nightly_summary/reduce"], START, None),
    ]
    df = pd.DataFrame(rows, columns=["name", "feature", "scope", "version", "tokens", "valid_from", "valid_until"])
    df.insert(0, "system_prompt_hash", df["name"].map(_hash))
    for c in ("valid_from", "valid_until"):
        df[c] = pd.to_datetime(df[c], utc=True).dt.strftime("%Y-%m-%dT%H:%MZ").fillna("")
    return df


# ------------------------------------------------------------------------------------------------
# Question templates: this script's own wording over Bitext's intent names.
# D = declarative, I = interrogative, K = keyword mode. Slots in braces.
# ------------------------------------------------------------------------------------------------
SUPPORT_INTENTS: dict[str, list[str]] = {
    "cancel_order": ["D:I want to cancel order {order}", "D:I need to cancel my order {order}",
                     "D:please cancel the order I placed yesterday, number {order}",
                     "I:how do I cancel order {order}?", "I:can you cancel my purchase {order}?",
                     "K:cancel order {order}"],
    "change_order": ["D:I need to change the {item} in order {order}", "D:I want to add another {item} to order {order}",
                     "D:I ordered the wrong size {item}, order {order}", "I:can I still change order {order}?",
                     "I:how can I swap the {item} in my order?", "K:change order {order}"],
    "track_order": ["D:I want to know where my order {order} is", "D:my order {order} hasn't arrived yet",
                    "D:I need an update on order {order}", "I:where is my order {order}?",
                    "I:when will my {item} arrive?", "K:track order {order}"],
    "change_shipping_address": ["D:I need to change the shipping address on order {order}",
                                "D:I moved and want to update my delivery address", "D:the address on order {order} is wrong",
                                "I:can I change the delivery address for order {order}?",
                                "I:how do I update my shipping address?", "K:change shipping address"],
    "set_up_shipping_address": ["D:I want to add a new shipping address", "D:I need to set up a second delivery address",
                                "D:help me save a shipping address in {country}", "I:how do I add a shipping address?",
                                "I:where can I set up a new delivery address?", "K:new shipping address"],
    "get_refund": ["D:I want a refund for the {item}", "D:I need my money back for order {order}",
                   "D:please refund the {amount} you charged me", "I:how do I get a refund for order {order}?",
                   "I:can I get my money back for the {item}?", "K:refund {item}"],
    "track_refund": ["D:I'm still waiting for my refund of {amount}", "D:my refund for order {order} has not arrived",
                     "D:I want to check the status of my refund", "I:where is my refund for order {order}?",
                     "I:when will I get my {amount} back?", "K:refund status"],
    "payment_issue": ["D:my payment with {method} keeps failing", "D:I was charged twice for order {order}",
                      "D:I can't pay with {method}", "I:why was my {method} payment declined?",
                      "I:what do I do if my payment failed?", "K:payment failed"],
    "recover_password": ["D:I forgot my password", "D:I can't log in, I need to reset my password",
                         "D:the password reset email never arrived", "I:how do I reset my password?",
                         "I:can you help me recover my account password?", "K:reset password"],
    "registration_problems": ["D:I can't finish signing up", "D:the registration form keeps giving me an error",
                              "D:I never got the confirmation email after signing up", "I:why can't I create an account?",
                              "I:what do I do if registration fails?", "K:sign up error"],
    "edit_account": ["D:I want to update my account details", "D:I need to change the email on my account",
                     "D:I want to edit my profile information", "I:how do I change my account details?",
                     "I:where can I edit my profile?", "K:edit account"],
    "delete_account": ["D:I want to delete my account", "D:please close my account and remove my data",
                       "D:I need to deactivate my {account} account", "I:how do I delete my account?",
                       "I:can you remove my account permanently?", "K:delete account"],
    "switch_account": ["D:I want to switch to the {account} plan", "D:I need to move my account to {account}",
                       "D:I'd like to downgrade my {account} account", "I:how do I switch to a {account} account?",
                       "I:can I change my plan to {account}?", "K:switch to {account}"],
    "create_account": ["D:I want to open a {account} account", "D:I need to create an account for my company",
                       "D:help me register a new account", "I:how do I create a {account} account?",
                       "I:can I sign up without a credit card?", "K:create account"],
    "contact_human_agent": ["D:I want to talk to a real person", "D:let me speak to an agent",
                            "D:I need a human, not a bot", "I:can I talk to a human agent?",
                            "I:how do I reach a live person?", "K:human agent"],
    "complaint": ["D:I want to file a complaint about order {order}", "D:the {item} arrived broken and nobody answers",
                  "D:I'm very unhappy with your service", "I:where can I file a complaint?",
                  "I:who do I complain to about a damaged {item}?", "K:complaint"],
    "get_invoice": ["D:I need the invoice for order {order}", "D:please send me a copy of my invoice",
                    "D:I want to download the invoice for my {item}", "I:where can I find the invoice for order {order}?",
                    "I:can you email me my invoice?", "K:invoice {order}"],
    "place_order": ["D:I want to buy a {item}", "D:I need to order two of the {item}", "D:help me place an order for a {item}",
                    "I:how do I order a {item}?", "I:can I place an order by chat?", "K:buy {item}"],
    "newsletter_subscription": ["D:I want to unsubscribe from the newsletter", "D:stop sending me marketing emails",
                                "D:I'd like to sign up for your newsletter", "I:how do I unsubscribe from your emails?",
                                "I:how can I subscribe to the newsletter?", "K:unsubscribe newsletter"],
    "review": ["D:I want to leave a review for the {item}", "D:I'd like to give feedback about my order",
               "D:I want to rate the {item} I bought", "I:where can I write a review?",
               "I:how do I leave feedback on the {item}?", "K:leave review"],
}
#: informational intents answered from the help centre; (slot, templates)
RAG_INTENTS: dict[str, tuple[str, list[str]]] = {
    "delivery_period": ("country", [
        "D:I want to know how long delivery to {country} takes", "D:I need my package in {country} by Friday",
        "I:how long does shipping to {country} take?", "I:when will an order to {country} arrive?",
        "I:what's the delivery time for {country}?", "K:delivery time {country}"]),
    "delivery_options": ("country", [
        "D:I want to see the shipping options for {country}", "I:what delivery options do you have for {country}?",
        "I:do you offer express shipping to {country}?", "I:can I get next-day delivery in {country}?",
        "K:shipping options {country}"]),
    "check_refund_policy": ("item", [
        "D:I want to know your return policy for a {item}", "I:can I return a {item} after 30 days?",
        "I:what is your refund policy for a {item}?", "I:is a {item} refundable once opened?",
        "K:return policy {item}"]),
    "check_cancellation_fee": ("account", [
        "D:I want to know the fee for cancelling a {account} plan", "I:is there a cancellation fee on the {account} plan?",
        "I:how much does it cost to cancel a {account} subscription?",
        "I:do I pay anything to cancel my {account} plan early?", "K:cancellation fee {account}"]),
    "check_payment_methods": ("method", [
        "D:I want to pay with {method}", "I:do you accept {method}?", "I:can I pay with {method}?",
        "I:is {method} a supported payment method?", "K:pay with {method}"]),
    "check_invoice": ("month", [
        "D:I need to see my invoices from {month}", "I:where can I see my invoices from {month}?",
        "I:how do I check the invoice for {month}?", "I:can I download all invoices for {month}?",
        "K:invoices {month}"]),
    "contact_customer_service": ("when", [
        "D:I want to know if customer service is open {when}", "I:is customer service open {when}?",
        "I:can I call support {when}?", "I:what are your support hours {when}?", "K:support hours {when}"]),
}
SLOTS = {
    "item": ["pair of running shoes", "wireless headset", "coffee grinder", "yoga mat", "laptop sleeve", "desk lamp",
             "winter jacket", "blender", "backpack", "office chair", "phone case", "water bottle"],
    "country": ["Canada", "Germany", "France", "the UK", "Spain", "Italy", "Mexico", "Japan", "Australia", "Ireland",
                "the Netherlands", "Poland", "Brazil", "New Zealand"],
    "method": ["PayPal", "Apple Pay", "bank transfer", "Klarna", "a gift card", "Amex", "Google Pay", "cash on delivery"],
    "account": ["premium", "business", "family", "student", "basic", "annual"],
    "month": ["January", "March", "June", "August", "September", "October", "last month", "last year"],
    "when": ["on Sunday", "on Saturday", "on public holidays", "on Christmas Eve", "at night", "in the evening"],
}
FOLLOW_UPS = [
    "ok", "thanks", "it still doesn't work", "I already tried that", "can you check again?",
    "that's not what I asked", "how long will that take?", "the order number is {order}", "it's {order}",
    "yes please", "no, the other one", "I don't see that option", "can I talk to a person?", "what happens next?",
    "will I get an email confirmation?", "it says there was an error", "I'm on the mobile app",
    "I'm on the website", "great, thank you!", "one more thing, can I also change the {item}?",
    "is there a fee for that?", "can you send me the link?", "it's been a week already", "ok and the refund?",
]
#: free-form context a customer adds to a help-centre question (probability RAG_CONTEXT_P)
RAG_CONTEXT = ["I ordered last week", "it's a gift", "for my business account", "I live abroad", "I'm a new customer",
               "I checked the FAQ already", "it's urgent", "asking for my mother", "I'm on the app", "before I order",
               "the website wasn't clear", "my friend said no", "I bought it on sale", "sorry if this was asked before",
               "I couldn't find it on the site", "quick question", "for a large order", "I'm comparing shops"]
RAG_CONTEXT_P = 0.35
RAG_ZIPF = 0.8  # popularity exponent of help-centre question clusters (assumed)
COORDINATED = ["and check my refund too", "and tell me about the fees", "and update my email",
               "and I also need the invoice", "and what about delivery?"]
FRUSTRATION = ["this is getting ridiculous, ", "seriously, ", "third time asking, ", "this is so annoying, "]
POLITE_PREFIX = ["could you please help, ", "hi, ", "hello, ", "good morning, "]
COLLOQUIAL = [("I want to ", "i wanna "), ("I need to ", "i gotta "), ("please ", "pls "), ("you ", "u "),
              ("my ", "ma "), ("I'm ", "im "), ("?", "??"), ("can I ", "can i ")]


def _split(template: str) -> tuple[str, str]:
    kind, text = template.split(":", 1)
    return kind, text


def _typo(rng: np.random.Generator, text: str) -> str:
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not long:
        return text
    i = long[int(rng.integers(len(long)))]
    w, j = words[i], int(rng.integers(1, len(words[i]) - 1))
    words[i] = w[:j] + w[j + 1:] if rng.random() < 0.5 else w[:j - 1] + w[j] + w[j - 1] + w[j + 1:]
    return " ".join(words)


def render(rng: np.random.Generator, templates: list[str], slots: dict[str, str]) -> str:
    """One user question: a template of the cluster's intent, then Bitext-style variations."""
    f = FIGURES
    by_kind: dict[str, list[str]] = {}
    for t in templates:
        k, text = _split(t)
        by_kind.setdefault(k, []).append(text)
    u = rng.random()
    if u < f["bitext_tag_K"] and "K" in by_kind:
        kind = "K"
    elif u < f["bitext_tag_K"] + f["bitext_tag_I"] and "I" in by_kind:
        kind = "I"
    else:
        kind = "D" if "D" in by_kind else "I"
    choices = by_kind[kind]
    text = choices[int(rng.integers(len(choices)))].format(**slots)
    if kind != "K":
        if rng.random() < f["bitext_tag_C"]:
            text = text.rstrip("?") + " " + COORDINATED[int(rng.integers(len(COORDINATED)))]
        if rng.random() < f["bitext_tag_P"]:
            text = POLITE_PREFIX[int(rng.integers(len(POLITE_PREFIX)))] + text[0].lower() + text[1:]
        if rng.random() < f["bitext_tag_W"]:
            text = FRUSTRATION[int(rng.integers(len(FRUSTRATION)))] + text[0].lower() + text[1:]
        if rng.random() < f["bitext_tag_Q"]:
            usable = [(a, b) for a, b in COLLOQUIAL if a in text]
            if usable:
                a, b = usable[int(rng.integers(len(usable)))]
                text = text.replace(a, b, 1)
    if rng.random() < f["bitext_tag_Z"]:
        text = _typo(rng, text)
    if rng.random() < 0.5:
        text = text[0].lower() + text[1:]
    if kind != "K" and rng.random() < 0.3:
        text = text.rstrip("?.!")
    return text


def _slot_values(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {name: rng.integers(len(vals), size=n) for name, vals in SLOTS.items()}


def _order_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(10_000_000, 99_999_999, size=n)


# ------------------------------------------------------------------------------------------------
# Arrivals: diurnal x weekday x per-minute gamma burstiness (CV from the Azure traces) -> Poisson
# ------------------------------------------------------------------------------------------------
def _diurnal(utc_offset_h: float) -> np.ndarray:
    """Relative activity for each minute of the week, by the tenant's local hour (assumed shape)."""
    minutes = np.arange(DAYS * 1440)
    local_h = ((minutes / 60.0) + utc_offset_h) % 24
    day = 0.10 + np.exp(-0.5 * ((local_h - 13.5) / 3.2) ** 2) + 0.35 * np.exp(-0.5 * ((local_h - 20.5) / 1.6) ** 2)
    return day / day.mean()


def arrivals(rng: np.random.Generator, weekly: float, utc_offset_h: float, weekday: tuple,
             minute_cv: float) -> np.ndarray:
    """Arrival times (seconds since START) of about ``weekly`` requests over the week."""
    minutes = np.arange(DAYS * 1440)
    shape = _diurnal(utc_offset_h) * np.asarray(weekday)[minutes // 1440]
    rate = weekly * shape / shape.sum()
    k = 1.0 / minute_cv ** 2  # gamma multiplier with mean 1 and the trace's per-minute CV
    counts = rng.poisson(rate * rng.gamma(k, 1.0 / k, size=rate.size))
    start = np.repeat(minutes * 60.0, counts)
    return np.sort(start + rng.random(start.size) * 60.0)


def _lognormal(rng, mu, sigma, n, lo, hi) -> np.ndarray:
    return np.clip(np.rint(rng.lognormal(mu, sigma, n)), lo, hi).astype(np.int64)


# ------------------------------------------------------------------------------------------------
# Attempts: errors, rate limits, timeouts and retries, all vectorised over (requests x attempts)
# ------------------------------------------------------------------------------------------------
def attempts(rng: np.random.Generator, *, feature: str, models: np.ndarray, plans: np.ndarray,
             input_tokens: np.ndarray, output_tokens: np.ndarray, p_rate_limited: np.ndarray | None = None,
             ) -> dict[str, np.ndarray]:
    """Simulate the tries of each logical request until one is ``ok`` or the retries run out.

    Returns flat per-attempt arrays (``req`` = index of the logical request) and per-request
    ``duration_s`` (all attempts plus back-off).
    """
    n, k = len(models), MAX_ATTEMPTS[feature]
    vendor = np.array([MODELS[m][0] for m in models])
    tps = np.array([MODELS[m][2] for m in models])
    p_err = np.array([P_ERROR[v] for v in vendor])[:, None]
    p_rl = (np.array([P_RATE_LIMITED[p] for p in plans]) if p_rate_limited is None else p_rate_limited)[:, None]
    timeout = TIMEOUT_S[feature]
    out = np.maximum(1, np.rint(output_tokens[:, None] * rng.lognormal(0, 0.15, (n, k)))).astype(np.int64)
    ttft = rng.lognormal(np.log(0.45), 0.45, (n, k)) + input_tokens[:, None] / 25_000.0
    lat_ok = ttft + out / tps[:, None] * rng.lognormal(0, 0.2, (n, k))
    u = rng.random((n, k))
    status = np.where(u < p_rl, "rate_limited",
             np.where(u < p_rl + p_err, "error",
             np.where((lat_ok > timeout) | (rng.random((n, k)) < P_NET_TIMEOUT), "timeout", "ok")))
    ok = status == "ok"
    n_att = np.where(ok.any(axis=1), ok.argmax(axis=1) + 1, k)
    latency = np.select(
        [status == "ok", status == "timeout", status == "error"],
        [lat_ok, np.full((n, k), timeout), rng.uniform(0.3, 6.0, (n, k))],
        rng.uniform(0.05, 0.3, (n, k)))
    partial = np.clip(np.floor((timeout - ttft) * tps[:, None]), 0, None).astype(np.int64)
    billed_out = np.select([status == "ok", status == "timeout"], [out, np.minimum(partial, out)], 0)
    billed_in = np.where((status == "ok") | (status == "timeout"), input_tokens[:, None], 0)
    backoff = (2.0 ** np.arange(k))[None, :] * rng.uniform(0.5, 1.5, (n, k))
    step = latency + np.where(np.arange(k)[None, :] < n_att[:, None] - 1, backoff, 0.0)
    offset = np.cumsum(step, axis=1) - step
    keep = np.arange(k)[None, :] < n_att[:, None]
    req, att = np.nonzero(keep)
    return {
        "req": req, "attempt": att + 1, "status": status[keep], "latency_s": latency[keep],
        "offset_s": offset[keep], "input_tokens": billed_in[keep], "output_tokens": billed_out[keep],
        "duration_s": (step * keep).sum(axis=1),
    }


def _quality(rng: np.random.Generator, models: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Judge score in [0, 1] for ``ok`` rows: success (>= 0.5) with the RouteLLM MMLU rate of the tier."""
    strong = np.array([MODELS[m][1] == "strong" for m in models])
    p = np.where(strong, FIGURES["routellm_mmlu_strong"], FIGURES["routellm_mmlu_cheap"])
    success = rng.random(len(models)) < p
    score = np.where(success, rng.uniform(0.5, 1.0, len(models)), rng.uniform(0.0, 0.4999, len(models)))
    return np.where(status == "ok", np.round(score, 3), np.nan)


# ------------------------------------------------------------------------------------------------
# Features
# ------------------------------------------------------------------------------------------------
def _tenant_arrays(feature: str, rng: np.random.Generator, minute_cv: float, volume: float | None = None):
    weights = TENANTS["weight"] / TENANTS["weight"].sum()
    ts, tenant = [], []
    for row, w in zip(TENANTS.itertuples(), weights):
        t = arrivals(rng, (volume or WEEKLY_VOLUME[feature]) * w, row.utc_offset_h, WEEKDAY[feature], minute_cv)
        ts.append(t)
        tenant.append(np.full(t.size, row.tenant, dtype=object))
    return np.concatenate(ts), np.concatenate(tenant)


_PLAN = dict(zip(TENANTS["tenant"], TENANTS["plan"]))


def support_chat(rng: np.random.Generator) -> pd.DataFrame:
    f = FIGURES
    start, tenant = _tenant_arrays("support_chat", rng, f["conv_minute_cv"])
    n = start.size
    plan = np.array([_PLAN[t] for t in tenant])
    model = np.array([ROUTES["support_chat"][p] for p in plan])
    intents = list(SUPPORT_INTENTS)
    zipf = 1.0 / np.arange(1, len(intents) + 1) ** 0.9
    intent = rng.choice(len(intents), size=n, p=zipf / zipf.sum())
    turns = np.clip(1 + np.floor(rng.lognormal(0.85, 0.85, n)), 1, 40).astype(np.int64)
    context = _lognormal(rng, f["conv_input_mu"], f["conv_input_sigma"], n, 20, 60_000)  # customer record, orders
    slots = _slot_values(rng, n)
    orders = _order_numbers(rng, n)
    users = np.array([f"u-{t}-{rng.integers(0, 400 if _PLAN[t] != 'free' else 60):04d}" for t in tenant])

    conv = np.repeat(np.arange(n), turns)
    turn = np.arange(conv.size) - np.repeat(np.cumsum(turns) - turns, turns) + 1
    texts: list[str] = []
    for c, k in zip(conv, turn):
        sl = {name: SLOTS[name][slots[name][c]] for name in SLOTS}
        sl.update(order=str(orders[c]), amount=f"${(orders[c] % 19000) / 100 + 10:.2f}")
        if k == 1:
            texts.append(render(rng, SUPPORT_INTENTS[intents[intent[c]]], sl))
        else:
            texts.append(FOLLOW_UPS[int(rng.integers(len(FOLLOW_UPS)))].format(**sl))
    user_tok = count_batch(texts, encoding="o200k_base") + 4
    reply = _lognormal(rng, f["conv_output_mu"], f["conv_output_sigma"], conv.size, 7, 4000)
    # prompt of turn k: system + context + all earlier user messages and replies + this message
    per_turn = user_tok + reply + 8
    before = np.cumsum(per_turn) - per_turn
    history = before - before[np.cumsum(turns) - turns][conv]
    sys_tok = np.where(plan[conv] == "enterprise", SYSTEM_TOKENS["support_chat"] + 420, SYSTEM_TOKENS["support_chat"])
    input_tokens = sys_tok + context[conv] + history + user_tok

    att = attempts(rng, feature="support_chat", models=model[conv], plans=plan[conv],
                   input_tokens=input_tokens, output_tokens=reply)
    # turn start = conversation start + earlier turns' duration + user think time
    think = np.where(turn > 1, rng.lognormal(np.log(35.0), 0.8, conv.size), 0.0)
    step = think + np.r_[0.0, att["duration_s"][:-1]] * (turn > 1)
    cum = np.cumsum(step)
    turn_start = start[conv] + cum - cum[np.cumsum(turns) - turns][conv]
    # the prompt column: JSON chat messages (replies abbreviated to their token count)
    prompts: list[str] = []
    history_msgs: list[dict] = []
    for i, (k, text) in enumerate(zip(turn, texts)):
        if k == 1:
            history_msgs = []
        history_msgs.append({"role": "user", "content": text})
        prompts.append(json.dumps(history_msgs, ensure_ascii=False))
        history_msgs.append({"role": "assistant", "content": f"[reply omitted: {reply[i]} tokens]"})
    r = att["req"]
    default_hash = np.where(turn_start[r] < (SUPPORT_PROMPT_DEPLOY - START).total_seconds(),
                            _hash("support_chat/default/v7"), _hash("support_chat/default/v8"))
    t_r = tenant[conv][r]
    sp_hash = np.where(plan[conv][r] == "enterprise", [_hash(f"support_chat/{t}/v3") for t in t_r], default_hash)
    sys_r = np.where(plan[conv][r] == "enterprise", sys_tok[r],
                     np.where(default_hash == _hash("support_chat/default/v8"), sys_tok[r] + 60, sys_tok[r]))
    inp = np.where(att["input_tokens"] > 0, att["input_tokens"] - sys_tok[r] + sys_r, 0)
    tags = [json.dumps({"logical_id": f"sc-{c:05d}-{k:02d}", "conversation_id": f"c-{c:05d}", "turn": int(k),
                        "intent": intents[intent[c]]}, separators=(",", ":"))
            for c, k in zip(conv[r], turn[r])]
    return pd.DataFrame({
        "ts_s": turn_start[r] + att["offset_s"], "tenant": t_r, "feature": "support_chat", "user": users[conv][r],
        "model": model[conv][r], "prompt": np.array(prompts, dtype=object)[r], "system_prompt_hash": sp_hash,
        "system_tokens": sys_r, "input_tokens": inp, "output_tokens": att["output_tokens"],
        "status": att["status"], "latency_s": att["latency_s"], "attempt": att["attempt"], "tags": tags,
        "cache_group": np.array([f"c-{c:05d}" for c in conv[r]], dtype=object),
    })


def rag_answer(rng: np.random.Generator) -> pd.DataFrame:
    f = FIGURES
    ts, tenant = _tenant_arrays("rag_answer", rng, f["conv_minute_cv"])
    client = np.full(ts.size, "web", dtype=object)
    # the injected anomaly: a runaway integration of one tenant, one day
    day0 = (pd.Timestamp(SPIKE["day"], tz="UTC") - START).total_seconds()
    extra = np.sort(day0 + rng.uniform(SPIKE["start_h"], SPIKE["end_h"], SPIKE["extra_requests"]) * 3600)
    ts = np.concatenate([ts, extra])
    tenant = np.concatenate([tenant, np.full(extra.size, SPIKE["tenant"], dtype=object)])
    client = np.concatenate([client, np.full(extra.size, "api", dtype=object)])
    n = ts.size
    plan = np.array([_PLAN[t] for t in tenant])
    model = np.array([ROUTES["rag_answer"][p] for p in plan])
    # clusters: (intent, slot value), popularity Zipf(1.1)
    clusters = [(intent, slot, v) for intent, (slot, _) in RAG_INTENTS.items() for v in range(len(SLOTS[slot]))]
    order = rng.permutation(len(clusters))
    zipf = 1.0 / np.arange(1, len(clusters) + 1) ** RAG_ZIPF
    cl = order[rng.choice(len(clusters), size=n, p=zipf / zipf.sum())]
    spike = client == "api"
    cl[spike] = order[rng.integers(0, SPIKE["clusters"], spike.sum())]
    texts = []
    for c in cl:
        intent, slot, v = clusters[c]
        text = render(rng, RAG_INTENTS[intent][1], {slot: SLOTS[slot][v]})
        if rng.random() < RAG_CONTEXT_P:
            extra_ctx = RAG_CONTEXT[int(rng.integers(len(RAG_CONTEXT)))]
            text = f"{extra_ctx}, {text[0].lower() + text[1:]}" if rng.random() < 0.5 else f"{text} ({extra_ctx})"
        texts.append(text)
    q_tok = count_batch(texts, encoding="o200k_base") + 4
    context = _lognormal(rng, f["conv_input_mu"], f["conv_input_sigma"], n, 20, 60_000)  # retrieved passages
    input_tokens = SYSTEM_TOKENS["rag_answer"] + context + q_tok
    output = _lognormal(rng, f["conv_output_mu"], f["conv_output_sigma"], n, 7, 4000)
    p_rl = np.where(spike, SPIKE["p_rate_limited"], [P_RATE_LIMITED[p] for p in plan])
    att = attempts(rng, feature="rag_answer", models=model, plans=plan, input_tokens=input_tokens,
                   output_tokens=output, p_rate_limited=p_rl)
    r = att["req"]
    users = np.array([f"u-{t}-{int(x):04d}" if c == "web" else f"api-{t}"
                      for t, x, c in zip(tenant, rng.integers(0, 400, n), client)])
    tags = [json.dumps({"logical_id": f"ra-{i:05d}", "intent": clusters[cl[i]][0],
                        "cluster": f"{clusters[cl[i]][0]}/{SLOTS[clusters[cl[i]][1]][clusters[cl[i]][2]]}",
                        "client": client[i]}, separators=(",", ":")) for i in r]
    return pd.DataFrame({
        "ts_s": ts[r] + att["offset_s"], "tenant": tenant[r], "feature": "rag_answer", "user": users[r],
        "model": model[r], "prompt": np.array(texts, dtype=object)[r],
        "system_prompt_hash": _hash("rag_answer/default/v4"), "system_tokens": SYSTEM_TOKENS["rag_answer"],
        "input_tokens": att["input_tokens"], "output_tokens": att["output_tokens"], "status": att["status"],
        "latency_s": att["latency_s"], "attempt": att["attempt"], "tags": tags, "cache_group": None,
    })


def classification(rng: np.random.Generator) -> pd.DataFrame:
    f = FIGURES
    ts, tenant = _tenant_arrays("classification", rng, f["code_minute_cv"])
    n = ts.size
    plan = np.array([_PLAN[t] for t in tenant])
    model = np.array([ROUTES["classification"][p] for p in plan])
    ticket = _lognormal(rng, f["code_input_mu"], f["code_input_sigma"], n, 10, 100_000)
    input_tokens = SYSTEM_TOKENS["classification"] + ticket
    output = _lognormal(rng, f["code_output_mu"], f["code_output_sigma"], n, 3, 400)
    att = attempts(rng, feature="classification", models=model, plans=plan, input_tokens=input_tokens,
                   output_tokens=output)
    r = att["req"]
    tags = [json.dumps({"logical_id": f"cl-{i:05d}", "ticket_id": f"t-{i:05d}"}, separators=(",", ":")) for i in r]
    return pd.DataFrame({
        "ts_s": ts[r] + att["offset_s"], "tenant": tenant[r], "feature": "classification", "user": None,
        "model": model[r], "prompt": None, "system_prompt_hash": _hash("classification/v12"),
        "system_tokens": SYSTEM_TOKENS["classification"], "input_tokens": att["input_tokens"],
        "output_tokens": att["output_tokens"], "status": att["status"], "latency_s": att["latency_s"],
        "attempt": att["attempt"], "tags": tags, "cache_group": None,
    })


def nightly_summary(rng: np.random.Generator) -> pd.DataFrame:
    """Each night from 01:00 UTC: map calls over yesterday's tickets, then one reduce call per tenant."""
    f = FIGURES
    frames = []
    weekday = WEEKDAY["support_chat"]
    for day in range(DAYS):
        prev_dow = (day - 1) % 7
        for row in TENANTS.itertuples():
            if row.plan not in NIGHTLY_CHUNKS:
                continue
            n_map = max(1, int(rng.poisson(NIGHTLY_CHUNKS[row.plan] * weekday[prev_dow] * row.weight / 0.12)))
            chunk = _lognormal(rng, f["code_input_mu"], f["code_input_sigma"], n_map, 200, 60_000)
            out = _lognormal(rng, f["conv_output_mu"], f["conv_output_sigma"], n_map, 20, 4000)
            reduce_in = SYSTEM_TOKENS["nightly_summary/reduce"] + int(out.sum())
            inputs = np.r_[SYSTEM_TOKENS["nightly_summary/map"] + chunk, reduce_in]
            outputs = np.r_[out, _lognormal(rng, f["conv_output_mu"] + 1.0, f["conv_output_sigma"], 1, 50, 4000)]
            model = np.full(n_map + 1, ROUTES["nightly_summary"][row.plan])
            att = attempts(rng, feature="nightly_summary", models=model, plans=np.full(n_map + 1, row.plan),
                           input_tokens=inputs, output_tokens=outputs)
            gap = att["duration_s"] + rng.uniform(0.1, 0.4, n_map + 1)
            start = day * 86400 + 3600 + rng.uniform(0, 3600) + np.cumsum(gap) - gap
            r = att["req"]
            step = np.where(r == n_map, "reduce", "map")
            job = f"nightly-{(START + pd.Timedelta(days=day)).date()}-{row.tenant}"
            frames.append(pd.DataFrame({
                "ts_s": start[r] + att["offset_s"], "tenant": row.tenant, "feature": "nightly_summary",
                "user": None, "model": model[r], "prompt": None,
                "system_prompt_hash": np.where(step == "map", _hash("nightly_summary/map/v2"),
                                               _hash("nightly_summary/reduce/v2")),
                "system_tokens": np.where(step == "map", SYSTEM_TOKENS["nightly_summary/map"],
                                          SYSTEM_TOKENS["nightly_summary/reduce"]),
                "input_tokens": att["input_tokens"], "output_tokens": att["output_tokens"],
                "status": att["status"], "latency_s": att["latency_s"], "attempt": att["attempt"],
                "tags": [json.dumps({"logical_id": f"{job}-{i:03d}", "job": job, "step": s, "batch_eligible": True},
                                    separators=(",", ":")) for i, s in zip(r, step)],
                "cache_group": None,
            }))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------------
# Provider prompt caching
# ------------------------------------------------------------------------------------------------
def prompt_cache(rng: np.random.Generator, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``cached_input_tokens`` and ``cache_write_tokens`` of each row (``df`` sorted by time).

    Anthropic (explicit ``cache_control`` on the system prompt and on the last message, 5-minute
    TTL, writes billed at 1.25x): a chat turn within 5 minutes of its conversation's previous
    billed call reads that call's whole prompt; otherwise the system prompt is read when another
    call used it within 5 minutes; the rest of the prompt is written. Prefixes under the model's
    minimum (1,024 Sonnet / 4,096 Haiku tokens) are neither read nor written.
    OpenAI (automatic, no write charge): the system prompt, rounded down to 128-token steps,
    is read when the same prompt was used within 10 minutes, with a 90 % hit chance.
    """
    n = len(df)
    cached = np.zeros(n, dtype=np.int64)
    write = np.zeros(n, dtype=np.int64)
    vendor = df["model"].map(lambda m: MODELS[m][0]).to_numpy()
    min_cache = df["model"].map(lambda m: MODELS[m][3]).to_numpy()
    billed = df["input_tokens"].to_numpy() > 0
    ts = df["ts_s"].to_numpy()
    inp = df["input_tokens"].to_numpy()
    sys_tok = df["system_tokens"].to_numpy()

    def previous_use(mask: np.ndarray, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Seconds since, and input tokens of, the previous billed row with the same keys (inf if none)."""
        sub = df.loc[mask, keys].assign(_ts=ts[mask], _in=inp[mask])
        g = sub.groupby(keys, sort=False)
        since = np.full(n, np.inf)
        prev_in = np.zeros(n, dtype=np.int64)
        since[mask] = (sub["_ts"] - g["_ts"].shift(1)).fillna(np.inf).to_numpy()
        prev_in[mask] = g["_in"].shift(1).fillna(0).to_numpy(dtype=np.int64)
        return since, prev_in

    anth = billed & (vendor == "anthropic")
    sys_since, _ = previous_use(anth, ["system_prompt_hash", "model"])
    conv_since, conv_prev = previous_use(anth & df["cache_group"].notna().to_numpy(), ["cache_group"])
    conv_hit = (conv_since <= TTL_S["anthropic"]) & (conv_prev >= min_cache)
    sys_hit = (sys_since <= TTL_S["anthropic"]) & (sys_tok >= min_cache)
    a_cached = np.where(conv_hit, np.minimum(conv_prev, inp), np.where(sys_hit, sys_tok, 0))
    a_write = np.where(inp >= min_cache, inp - a_cached, 0)
    cached[anth], write[anth] = a_cached[anth], a_write[anth]

    oai = billed & (vendor == "openai")
    o_since, _ = previous_use(oai, ["system_prompt_hash", "model"])
    hit = oai & (o_since <= TTL_S["openai"]) & (sys_tok >= 1024) & (rng.random(n) < OPENAI_CACHE_HIT)
    cached[hit] = (sys_tok[hit] // 128) * 128
    return cached, write


# ------------------------------------------------------------------------------------------------
# Assembly
# ------------------------------------------------------------------------------------------------
def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """All sample tables: ``requests`` (canonical schema), ``tenants``, ``system_prompts``."""
    streams = np.random.SeedSequence(seed).spawn(6)
    rngs = [np.random.default_rng(s) for s in streams]
    df = pd.concat([support_chat(rngs[0]), rag_answer(rngs[1]), classification(rngs[2]),
                    nightly_summary(rngs[3])], ignore_index=True)
    df = df[(df["ts_s"] >= 0) & (df["ts_s"] < DAYS * 86400)]
    df["ts_s"] = np.round(df["ts_s"].to_numpy(), 3)
    df = df.sort_values(["ts_s", "feature", "tags"], kind="stable").reset_index(drop=True)
    df["cached_input_tokens"], df["cache_write_tokens"] = prompt_cache(rngs[4], df)
    df["quality"] = _quality(rngs[5], df["model"].to_numpy(), df["status"].to_numpy())
    out = pd.DataFrame({
        "request_id": [f"req-{i + 1:06d}" for i in range(len(df))],
        "ts": START + pd.to_timedelta(np.round(df["ts_s"].to_numpy() * 1000).astype(np.int64), unit="ms"),
        "tenant": df["tenant"], "feature": df["feature"], "user": df["user"], "model": df["model"],
        "prompt": df["prompt"], "system_prompt_hash": df["system_prompt_hash"],
        "input_tokens": df["input_tokens"], "cached_input_tokens": df["cached_input_tokens"],
        "cache_write_tokens": df["cache_write_tokens"], "output_tokens": df["output_tokens"],
        "status": df["status"], "latency_ms": np.round(df["latency_s"].to_numpy() * 1000, 1),
        "attempt": df["attempt"], "quality": df["quality"], "tags": df["tags"], "token_source": "logged",
    })
    tenants = TENANTS.drop(columns=["weight"]).copy()
    return {"requests": conform(out), "tenants": tenants, "system_prompts": system_prompts()}


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the canonical columns, in order, with the schema's dtypes."""
    out = pd.DataFrame(index=frame.index)
    for c in COLUMNS:
        col = frame[c.name] if c.name in frame else pd.Series(pd.NA, index=frame.index)
        if c.dtype.startswith("datetime64"):
            col = pd.to_datetime(col, utc=True).astype(c.dtype)
        else:
            col = col.astype(c.dtype)
        out[c.name] = col
    assert tuple(out.columns) == COLUMN_NAMES
    return out


def write(tables: dict[str, pd.DataFrame], out_dir: Path = OUT_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    req = tables["requests"]
    req.to_parquet(out_dir / "requests.parquet", compression="zstd", compression_level=9, index=False,
                   row_group_size=len(req))
    window = (req["ts"] >= pd.Timestamp("2025-11-05 14:00", tz="UTC")) & (req["ts"] < pd.Timestamp("2025-11-05 14:30", tz="UTC"))
    preview = req[window]
    nightly = req[(req["feature"] == "nightly_summary") & (req["ts"] >= "2025-11-05")].head(20)
    retried = req[req["attempt"] > 1].head(10)
    preview = pd.concat([preview, nightly, retried]).drop_duplicates("request_id").sort_values("ts")
    preview.to_csv(out_dir / "requests_preview.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    tables["tenants"].to_csv(out_dir / "tenants.csv", index=False)
    tables["system_prompts"].to_csv(out_dir / "system_prompts.csv", index=False)


def describe(req: pd.DataFrame) -> dict[str, float]:
    """The figures ``sample_data/README.md`` states about the generated week (tests check them)."""
    ok = req[req["status"] == "ok"]
    out: dict[str, float] = {"rows": len(req), "logical_requests": int((req["attempt"] == 1).sum())}
    for feat, g in ok.groupby("feature"):
        out[f"{feat}_rows"] = int((req["feature"] == feat).sum())
        out[f"{feat}_input_mean"] = round(float(g["input_tokens"].mean()), 0)
        out[f"{feat}_input_p50"] = float(g["input_tokens"].median())
        out[f"{feat}_input_p95"] = round(float(g["input_tokens"].quantile(0.95)), 0)
        out[f"{feat}_output_mean"] = round(float(g["output_tokens"].mean()), 0)
        out[f"{feat}_cached_share"] = round(float(g["cached_input_tokens"].sum() / g["input_tokens"].sum()), 3)
        all_f = req[req["feature"] == feat]
        out[f"{feat}_retry_amplification"] = round(len(all_f) / int((all_f["attempt"] == 1).sum()), 4)
    tags = req["tags"].map(json.loads)
    sc = req[(req["feature"] == "support_chat") & (req["attempt"] == 1)]
    sc_tags = tags[sc.index]
    turns = sc_tags.map(lambda t: t["turn"])
    out["support_conversations"] = int(sc_tags.map(lambda t: t["conversation_id"]).nunique())
    out["support_turns_mean"] = round(float(turns.groupby(sc_tags.map(lambda t: t["conversation_id"])).max().mean()), 2)
    last = sc["prompt"].map(lambda p: json.loads(p)[-1]["content"]).str.split().str.len()
    out["support_followup_over_first_words"] = round(float(last[turns > 1].mean() / last[turns == 1].mean()), 3)
    out["support_first_message_words"] = round(float(last[turns == 1].mean()), 2)
    rag = req[(req["feature"] == "rag_answer") & (req["attempt"] == 1)]
    norm = rag["prompt"].str.lower().str.replace(r"[^a-z0-9 ]", "", regex=True).str.split().str.join(" ")
    cluster = tags[rag.index].map(lambda t: t["cluster"])
    out["rag_exact_repeat_share"] = round(1 - (rag["tenant"] + "|" + rag["prompt"]).nunique() / len(rag), 3)
    out["rag_normalised_repeat_share"] = round(1 - (rag["tenant"] + "|" + norm).nunique() / len(rag), 3)
    out["rag_cluster_repeat_share"] = round(1 - (rag["tenant"] + "|" + cluster).nunique() / len(rag), 3)
    # paraphrase distance: Jaccard of distinct phrasings of the same cluster (first two seen)
    firsts = pd.DataFrame({"c": cluster, "p": rag["prompt"]}).drop_duplicates().groupby("c")["p"].head(2)
    pairs = pd.DataFrame({"c": cluster[firsts.index], "p": firsts}).groupby("c")["p"].agg(list)
    jac = [_jaccard(a, b) for a, b in (x for x in pairs if len(x) == 2)]
    out["rag_paraphrase_jaccard"] = round(float(np.mean(jac)), 3)
    ok_q = req["quality"].notna()
    strong = req["model"].map(lambda m: MODELS[m][1] == "strong")
    out["success_rate_strong"] = round(float((req.loc[ok_q & strong, "quality"] >= 0.5).mean()), 3)
    out["success_rate_cheap"] = round(float((req.loc[ok_q & ~strong, "quality"] >= 0.5).mean()), 3)
    day = req["ts"].dt.tz_convert("UTC").dt.floor("D")
    spike = req[req["feature"] == SPIKE["feature"]]
    per_day = spike.groupby(day[spike.index])["input_tokens"].size()
    out["spike_day_rag_calls"] = int(per_day.iloc[-1])
    out["spike_baseline_rag_calls"] = float(per_day.iloc[:-1].median())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measure", action="store_true", help="re-measure FIGURES from ../shared/data and compare")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--describe", action="store_true", help="print the figures of the generated week")
    args = ap.parse_args(argv)
    if args.measure:
        got = measure()
        bad = 0
        for k, v in got.items():
            mark = "" if np.isclose(v, FIGURES[k], rtol=0, atol=1.5 * 10 ** -4 * max(1, abs(v))) else "  <-- differs"
            bad += bool(mark)
            print(f"{k:28s} {v!s:>10}  (script: {FIGURES[k]}){mark}")
        return 1 if bad else 0
    tables = generate(args.seed)
    if args.describe:
        for k, v in describe(tables["requests"]).items():
            print(f"{k:40s} {v}")
        return 0
    write(tables, args.out)
    req = tables["requests"]
    print(f"wrote {len(req):,} requests, {req['ts'].min()} .. {req['ts'].max()} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
