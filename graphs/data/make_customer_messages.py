#!/usr/bin/env python3
"""Writes customer_messages.jsonl, the data of redact_and_classify.toml: 300 customer messages,
most of them holding personal data (e-mail addresses, phone numbers, card numbers) that must not
leave the machine, each with the category a keyword classifier should find. Deterministic."""
import json
import random

rng = random.Random(20261128)
first = ["anna", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jonas"]
domains = ["example.com", "mail.example.org", "example.net"]
cards = ["4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881"]  # test numbers (Luhn-valid)
topics = {
    "billing": ["I was charged twice, please refund it to card {card}", "my invoice is wrong, write to {email}",
                "the refund for my card {card} never came"],
    "shipping": ["my parcel was not delivered, call me on {phone}", "the package arrived damaged, reach me at {email}",
                 "please change the delivery address, my number is {phone}"],
    "technical": ["the app crashes on login, my account is {email}", "I cannot reset my password, call {phone}",
                  "sync error on my laptop, contact {email} or {phone}"],
}
lines = []
for i in range(1, 301):
    category = rng.choice(sorted(topics))
    name = rng.choice(first)
    text = rng.choice(topics[category]).format(
        email=f"{name}.{rng.randint(1, 99)}@{rng.choice(domains)}",
        phone=rng.choice([f"+49 30 {rng.randint(1000000, 9999999)}", f"(555) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                          f"020 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"]),
        card=rng.choice(cards))
    lines.append(json.dumps({"id": f"M{i:04}", "expected": category, "text": text}))
with open("customer_messages.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
