#!/usr/bin/env python3
"""Writes the small sample inputs of the example graphs (deterministic): products.jsonl,
papers.jsonl and batch_requests.jsonl. tickets.jsonl comes from make_tickets.py."""
import json
import random

rng = random.Random(7)

# 300 products for graphs/product_descriptions.toml
kinds = {
    "kitchen": (["kettle", "chef's knife", "coffee grinder", "cast-iron pan", "blender"],
                ["stainless steel", "dishwasher safe", "1.7 l", "ergonomic handle", "5-year warranty"]),
    "outdoor": (["tent", "hiking backpack", "sleeping bag", "headlamp", "water filter"],
                ["waterproof", "ultralight", "recycled fabric", "USB-C charging", "fits carry-on"]),
    "office": (["standing desk", "monitor arm", "mechanical keyboard", "desk lamp", "noise-cancelling headset"],
               ["height adjustable", "quiet switches", "warm-to-cool light", "bluetooth 5.3", "cable management"]),
}
with open("products.jsonl", "w") as f:
    for i in range(1, 301):
        category = rng.choice(sorted(kinds))
        names, features = kinds[category]
        name = f"{rng.choice(['Nordic', 'Atlas', 'Juniper', 'Cobalt', 'Marlow'])} {rng.choice(names)}"
        f.write(json.dumps({"sku": f"SKU-{i:04}", "name": name, "category": category,
                            "features": rng.sample(features, 3), "price_eur": round(rng.uniform(9, 450), 2)}) + "\n")

# 100 papers for graphs/summarize_papers.toml
fields = ["graph neural networks", "retrieval-augmented generation", "protein folding", "climate downscaling",
          "speculative decoding", "federated learning", "causal inference", "sparse attention"]
with open("papers.jsonl", "w") as f:
    for i in range(1, 101):
        topic = rng.choice(fields)
        other = rng.choice(fields)
        abstract = (f"We study {topic} in the setting of {other}. Prior work scales poorly beyond "
                    f"{rng.randint(2, 64)} billion parameters. We propose a method that reduces cost by "
                    f"{rng.randint(10, 80)}% while keeping accuracy within {rng.randint(1, 5)} points, and we "
                    f"release code and {rng.randint(3, 12)} benchmarks.")
        f.write(json.dumps({"paper_id": f"arxiv-2611.{i:05}", "title": f"Efficient {topic} for {other}",
                            "abstract": abstract}) + "\n")

# 200 OpenAI Batch API lines for graphs/batch_file.toml
with open("batch_requests.jsonl", "w") as f:
    for i in range(1, 201):
        question = f"In one sentence, why does ticket #{i} about {rng.choice(['refunds', 'delivery', 'login'])} matter?"
        f.write(json.dumps({"custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions",
                            "body": {"model": "gpt-4o-mini", "max_tokens": 60,
                                     "messages": [{"role": "system", "content": "You are concise."},
                                                  {"role": "user", "content": question}]}}) + "\n")
