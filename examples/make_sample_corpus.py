"""Regenerate pipelines/samples/corpus.jsonl, the embedded input of `shardsmith corpus`.

It holds prose documents, planted exact and near duplicates, low-quality documents
the Gopher rules reject, and malformed lines (invalid JSON, invalid UTF-8, a missing
text field, a wrong type) so the first run shows every outcome: kept, rejected with
a reason, deduplicated.
"""
import json
import pathlib

PARAGRAPHS = [
    "Parquet stores data by column, so a query that reads two fields of a wide table only touches the bytes of those two fields. "
    "Each file is split into row groups, and every column chunk inside a row group carries statistics such as the minimum and the maximum value. "
    "A reader can use those statistics to skip whole row groups that cannot match a filter, which is why sorting the data before writing it often makes later queries much faster.",
    "Deduplication matters for language model training because repeated documents are memorized far more often than unique ones. "
    "Exact duplicates are easy to find with a hash of the normalized text, but the web is full of pages that differ only in a date, a navigation bar or a tracking parameter. "
    "Near duplicate detection with MinHash compares sets of word shingles and estimates their Jaccard similarity without ever comparing all pairs of documents.",
    "A good data pipeline never loses a record without saying why. When a document is dropped, the pipeline should write it to a rejects table together with the stage "
    "that removed it and a short reason, so that an engineer can count the reasons, read a sample of each and decide whether a rule is too strict. "
    "The counts of kept, rejected and deduplicated records should always add up to the number of records that were read.",
    "Apache Beam describes a computation as a graph of transforms over collections of elements. The same graph can run on a laptop with the portable runner, "
    "on Google Cloud Dataflow, or on a Flink or Spark cluster. Because the runner decides how to split the work into bundles, a transform must not depend on the order "
    "in which elements arrive, and any side effect such as writing a file has to be safe to repeat when a bundle is retried.",
    "The river valley was quiet in the early morning. Mist rose from the water and hung between the trees, and the only sound was the slow call of a heron somewhere "
    "upstream. By the time the sun reached the meadow, the farmers had already loaded their carts and the road to the market town was busy with people who had "
    "walked for hours to sell eggs, cheese and the first apples of the season.",
    "Photosynthesis converts light energy into chemical energy stored in sugar. In the light dependent reactions, water is split and oxygen is released, while the energy "
    "of absorbed photons is used to make ATP and NADPH. In the Calvin cycle these molecules drive the fixation of carbon dioxide into three carbon sugars, which the plant "
    "then uses to build glucose, starch and cellulose for its growth.",
    "Version control lets a team work on the same code without overwriting each other. Every change is recorded as a commit with an author, a date and a message that "
    "explains why the change was made. Pull requests add a review step on top of that history: a colleague reads the diff, asks questions and suggests improvements "
    "before the branch is merged into the main line of development.",
    "A quality classifier is only as good as the examples it was trained on. If the positive examples all come from one encyclopedia, the model will learn to prefer "
    "that style of writing rather than good writing in general. It helps to look at the documents that receive the highest and the lowest scores, and to keep the "
    "threshold as a separate step so that it can be changed without scoring the whole corpus again.",
    "The old library had been built in the nineteenth century, and its reading room still had the long oak tables and green lamps of that time. Students came there in "
    "the winter because it was warm and quiet, and because the librarian, who had worked there for almost forty years, could find any book in the building from memory "
    "and would happily explain the history of each one to anyone who asked.",
    "Unit tests check one function at a time, but a data pipeline also needs tests that run the whole graph on a small input and look at what comes out. "
    "Such a test should plant the cases it cares about, for example two documents that differ by a single word, and then assert that exactly one of them survives "
    "and that the survivor is the one the documented rule says it should be.",
]

LOW_QUALITY = [
    "click here click here click here buy now",
    "### ### ### ... ... ... ### ### ### ... ... ... ### ### ### ... ... ...",
    "- home\n- about\n- contact\n- login\n- register\n- cart\n- help\n- terms\n- privacy\n- sitemap",
]


def near_variant(text: str) -> str:
    """Change one word in the middle: a near duplicate above a 0.8 Jaccard threshold (word 5-grams)."""
    words = text.split()
    words[len(words) // 2] = "notably"
    return " ".join(words)


def main() -> None:
    lines = []
    for i, text in enumerate(PARAGRAPHS):
        lines.append(json.dumps({"id": f"doc-{i:03d}", "text": text, "url": f"https://example.org/{i}"}))
    # exact duplicate of doc-001 (after whitespace normalization) and near duplicates of doc-002 / doc-003
    lines.append(json.dumps({"id": "doc-101", "text": "  " + PARAGRAPHS[1].replace(". ", ".  ") + "  "}))
    lines.append(json.dumps({"id": "doc-102", "text": near_variant(PARAGRAPHS[2])}))
    lines.append(json.dumps({"id": "doc-103", "text": near_variant(PARAGRAPHS[3])}))
    for i, text in enumerate(LOW_QUALITY):
        lines.append(json.dumps({"id": f"junk-{i:03d}", "text": text}))
    encoded = [line.encode("utf-8") for line in lines]
    encoded.append(b'{"id": "broken-json", "text": "no closing brace"')
    encoded.append(b'{"id": "bad-utf8", "text": "caf\xe9 latin-1 bytes"}')
    encoded.append(json.dumps({"id": "no-text", "title": "a record without text"}).encode())
    encoded.append(json.dumps({"id": "wrong-type", "text": 42}).encode())
    out = pathlib.Path(__file__).resolve().parents[1] / "pipelines" / "samples" / "corpus.jsonl"
    out.write_bytes(b"\n".join(encoded) + b"\n")
    print(f"wrote {out} ({len(encoded)} lines)")


if __name__ == "__main__":
    main()
