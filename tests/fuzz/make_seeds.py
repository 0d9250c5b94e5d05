#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/ that come from the shipped graphs and data.

    python3 tests/fuzz/make_seeds.py    # from the repository's root; rewrites only its own files

Those files are named "shipped_*"; the other seeds (recorded API answers, edge cases) are written
by hand and kept as they are. Seeds stay small (a few lines of data each), so that libFuzzer's
default input size and a short run go a long way.
"""
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
GRAPHS = ROOT / "graphs"
DATA = GRAPHS / "data"


def write(target, name, text):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"shipped_{name}").write_text(text)


def first_lines(path, n):
    with open(path) as f:
        return [next(f) for _ in range(n)]


def csv_field(value):
    text = value if isinstance(value, str) else json.dumps(value)
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def to_csv(lines, columns):
    rows = [",".join(columns)]
    for line in lines:
        record = json.loads(line)
        rows.append(",".join(csv_field(record.get(c, "")) for c in columns))
    return "\n".join(rows) + "\n"


def main():
    for graph in sorted(GRAPHS.glob("*.toml")):
        write("toml_graph", graph.name, graph.read_text())

    datasets = {"tickets": 4, "customer_messages": 3, "products": 3, "papers": 2, "batch_requests": 3}
    for name, n in datasets.items():
        write("jsonl_source", f"{name}.jsonl", "".join(first_lines(DATA / f"{name}.jsonl", n)))

    write("csv_source", "tickets.csv", to_csv(first_lines(DATA / "tickets.jsonl", 4), ["id", "category", "text"]))
    write("csv_source", "products.csv",
          to_csv(first_lines(DATA / "products.jsonl", 3), ["sku", "name", "category", "features", "price_eur"]))
    write("csv_source", "papers.csv", to_csv(first_lines(DATA / "papers.jsonl", 2), ["paper_id", "title", "abstract"]))

    # Every prompt of the shipped graphs, over a record of the data it reads.
    samples = {"text": "tickets", "name": "products", "title": "papers", "summary": "papers"}
    for graph in sorted(GRAPHS.glob("*.toml")):
        for i, prompt in enumerate(re.findall(r'^prompt = "(.*)"', graph.read_text(), re.M)):
            template = json.loads(f'"{prompt}"')  # TOML basic strings escape as JSON strings do
            field = re.search(r"\{\{\s*(\w+)", template)
            data = samples.get(field.group(1) if field else "", "tickets")
            fields = first_lines(DATA / f"{data}.jsonl", 1)[0].strip()
            write("template", f"{graph.stem}_{i}", f"{template}\n%%\n{fields}\n")


if __name__ == "__main__":
    main()
