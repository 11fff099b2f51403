"""Writes notebooks/teaching/estimates.ipynb (the source of truth for its cells is this script).

    .venv/bin/python scripts/make_teaching_notebook.py
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

md, code = new_markdown_cell, new_code_cell
cells = [
    md("# Estimating LLM cost, interview style\n\n"
       "Each cell does one thing with the `workbench` library. The worked examples come from the "
       "articles the project grew from; every figure is **recomputed from the article's stated inputs**, "
       "and where the article's arithmetic is wrong the table says so. Then it's your turn: exercises whose "
       "answers the library checks."),
    code("from workbench import (check_answer, effective_cost, estimate, example, exercise, load_prices,\n"
         "                       request_cost, stated_price)"),
    md("## 1. The formula\n\ncost per request = (input tokens × input price + output tokens × output price) / 1,000,000. "
       "Prices are USD per 1M tokens. A price record built from stated numbers:"),
    code("gpt4o_launch = stated_price('gpt-4o', input=5.00, output=15.00)\ngpt4o_launch"),
    md("One request of the support bot: 2,000 tokens in, 400 out."),
    code("one = request_cost(gpt4o_launch, input_tokens=2_000, output_tokens=400)\none.to_dict()"),
    md("A day is 50,000 of them; a month is 30 days."),
    code("day = one.scaled(50_000)\nday.prompt_usd, day.output_usd, day.total_usd, day.total_usd * 30"),
    md("## 2. Worked example: the support bot — and the cheaper model\n\n"
       "The article says GPT-4o-mini would cost \"roughly $18/day\", a 40× swing. Recomputed:"),
    code("example('support_bot')"),
    md("## 3. Worked example: a RAG feature"),
    code("example('rag_feature')"),
    md("## 4. Worked example: a cascade blend\n\n"
       "85 % of requests stay on mini, 15 % escalate to GPT-4o. The effective-cost formula: "
       "base × (1 − cache savings) × (1 + escalation rate × tier multiplier) × retry factor."),
    code("example('cascade_blend')"),
    md("The formula's parts, for the cascade where every request tries mini and 15 % also run on GPT-4o "
       "(tier multiplier = GPT-4o cost ÷ mini cost):"),
    code("effective_cost(441.0, escalation_rate=0.15, tier_multiplier=13_650 / 441).parts()"),
    md("## 5. Worked example: provider prefix caching"),
    code("example('prefix_cache')"),
    md("## 6. Worked example: optimisations compound"),
    code("example('compounding')"),
    md("## 7. Worked example: shrinking the system prompt"),
    code("example('prompt_compression')"),
    md("## 8. Today's prices, from the reviewed price sheets\n\nThe stated prices above are the articles'. "
       "The sheets in `pricing/` hold dated records with sources:"),
    code("book = load_prices()\nestimate(book, 'gpt-4o-mini', 3_500, 350, requests_per_day=20_000).to_dict()"),
    md("# Exercises\n\nWrite your answer with the library, then check it."),
    code("exercise('mini_monthly')"),
    code("mini = stated_price('gpt-4o-mini', 0.15, 0.60)\n"
         "answer = request_cost(mini, 2_000, 300).total_usd * 10_000_000\n"
         "check_answer('mini_monthly', answer)"),
    code("exercise('gpt4o_monthly')"),
    code("gpt4o = stated_price('gpt-4o', 2.50, 10.00, cached_input=1.25, batch_input=1.25, batch_output=5.00)\n"
         "answer = request_cost(gpt4o, 2_000, 300).total_usd * 10_000_000\n"
         "check_answer('gpt4o_monthly', answer)"),
    code("exercise('cascade')"),
    code("answer = 4_800 + 0.20 * 80_000\ncheck_answer('cascade', answer)"),
    code("exercise('batch_share')"),
    code("answer = 0.6 * 80_000 + 0.4 * request_cost(gpt4o, 2_000, 300, batch=True).total_usd * 10_000_000\n"
         "check_answer('batch_share', answer)"),
    code("exercise('prefix_cache')"),
    code("answer = 10_000_000 * 1_500 * (2.50 - 1.25) / 1_000_000\ncheck_answer('prefix_cache', answer)"),
    code("exercise('chat_history')"),
    code("answer = sum(500 + k * 100 + (k - 1) * 200 for k in range(1, 6))\ncheck_answer('chat_history', answer)"),
]
nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
out = Path(__file__).resolve().parents[1] / "notebooks" / "teaching" / "estimates.ipynb"
nbformat.write(nb, out)
print(f"wrote {out}")
