#!/usr/bin/env python3
"""Writes tickets.jsonl, the quick start's sample data: 2,000 support tickets (six of them empty,
which a real API rejects) and two broken lines (which the source rejects). Deterministic."""
import json
import random

rng = random.Random(20261127)
topics = {
    "billing": ["I was charged twice for order {n}", "my invoice {n} shows the wrong VAT number",
                "please refund the subscription renewal from {d}", "the discount code {c} was not applied",
                "why did my card get declined for order {n}?"],
    "shipping": ["parcel {n} has not arrived after {k} days", "the tracking page for {n} shows no updates",
                 "my order {n} was delivered to the wrong address", "can I change the delivery date of {n}?",
                 "the box for order {n} arrived damaged"],
    "technical": ["the app crashes when I open settings on version {v}", "I cannot log in since the update to {v}",
                  "sync stops at {k}% on my laptop", "error {e} when uploading a file larger than {k} MB",
                  "the export button does nothing in browser version {v}"],
}
empty_at = {137, 512, 888, 1203, 1640, 1999}
lines = []
for i in range(1, 2001):
    category = rng.choice(sorted(topics))
    text = rng.choice(topics[category]).format(
        n=rng.randint(10000, 99999), d=f"2026-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}",
        c="SAVE" + str(rng.randint(10, 50)), k=rng.randint(2, 90), v=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}",
        e=f"E{rng.randint(100, 999)}")
    if i in empty_at:
        text = ""
    lines.append(json.dumps({"id": f"T{i:05}", "category": category, "text": text}))
lines.insert(700, '{"id": "T-broken", "category": "billing", "text": "unterminated')
lines.insert(1500, '{"category": "shipping", "text": "a ticket that lost its id"}')
with open("tickets.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
