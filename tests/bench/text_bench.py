"""Hostile text through the real loader and chunker: seconds and chunks per MB for each class.

About 1 MB of each class (Chinese, Japanese, minified JSON, base64, Markdown heading lines padded
with spaces, HTML nested 100,000+ deep, plain English) is written to a file, read with
``load_path`` and chunked with the engine's default settings and the embedder's tokenizer. The raw
library figure in the same run is the tokenizer alone on the extracted text, so ``vs_tokenizer``
says what the pipeline costs on top of tokenising once. For HTML and Markdown the raw parser (BeautifulSoup, markdown-it-py)
is timed too. ``bound`` is 1.5 x (word pieces / chunk size + characters / character cap) + one per
section or page, the chunker's promise for long runs; the chunk count should stay under it.
"""

from __future__ import annotations

import base64
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.documents import document_id_for  # noqa: E402
from core.ingest.chunking import Chunker, load_tokenizer  # noqa: E402
from core.ingest.loaders import load_path  # noqa: E402
from core.modelstore import embedding_model_dir  # noqa: E402
from core.settings import Settings  # noqa: E402

MB = 1_000_000


def _fill(make: Callable[[int], str], target: int = MB) -> str:
    parts, size, i = [], 0, 0
    while size < target:
        part = make(i)
        parts.append(part)
        size += len(part.encode("utf-8"))
        i += 1
    return "".join(parts)


def samples(rnd: random.Random) -> dict[str, tuple[str, str]]:
    """class name -> (file suffix, content of about 1 MB)."""
    cjk = "".join(chr(rnd.randint(0x4E00, 0x9FFF)) for _ in range(2000))
    kana = "".join(chr(rnd.choice([rnd.randint(0x3041, 0x3096), rnd.randint(0x30A1, 0x30FA),
                                   rnd.randint(0x4E00, 0x6FFF)])) for _ in range(2000))
    english = ("The committee met on Tuesday to review the annual budget. Several members raised concerns "
               "about maintenance costs; others argued that the new library would pay for itself. ")
    return {
        "chinese": (".txt", _fill(lambda i: cjk[i % 1000:] + "。" + cjk[:i % 1000] + "，")),
        "japanese": (".txt", _fill(lambda i: kana[i % 900:] + "。" + kana[:i % 900] + "、")),
        "minified_json": (".json", "[" + _fill(lambda i: json.dumps(
            {"id": i, "name": f"item{i}", "tags": ["a", "b"], "v": rnd.random(), "ok": i % 2 == 0},
            separators=(",", ":")) + ",") + "0]"),
        "base64": (".txt", base64.b64encode(rnd.randbytes(MB * 3 // 4)).decode()),
        "markdown_spaced_headings": (".md", _fill(lambda i: "# a" + " " * 4000 + "b\n\ntext under it.\n\n")),
        "deep_html": (".html", "<html><head><title>Deep</title></head><body>"
                      + _fill(lambda i: f"<div><span>w{i} ")),
        "english": (".txt", _fill(lambda i: english + ("\n\n" if i % 5 == 4 else ""))),
    }


def raw_parse_s(suffix: str, content: str) -> float | None:
    """The raw parsing library alone on the file's text: BeautifulSoup for HTML, markdown-it-py for Markdown."""
    t0 = time.perf_counter()
    if suffix == ".html":
        from bs4 import BeautifulSoup

        BeautifulSoup(content, "html.parser")
    elif suffix == ".md":
        from markdown_it import MarkdownIt

        MarkdownIt("commonmark").parse(content)
    else:
        return None
    return time.perf_counter() - t0


def main() -> None:
    rnd = random.Random(7)
    settings = Settings()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tok = load_tokenizer(str(embedding_model_dir(root / "data") / "tokenizer.json"))
        chunker = Chunker(tok, settings.chunk_tokens, settings.chunk_overlap)
        for name, (suffix, content) in samples(rnd).items():
            path = root / f"{name}{suffix}"
            path.write_text(content, encoding="utf-8")
            mb = path.stat().st_size / MB
            t0 = time.perf_counter()
            ex = load_path(path)
            t1 = time.perf_counter()
            chunks = chunker.chunk(ex, document_id_for(str(path)))
            t2 = time.perf_counter()
            encoding = tok.encode_batch([ex.text], add_special_tokens=False)[0]
            t3 = time.perf_counter()
            pieces = len(encoding.ids)
            raw_parse = raw_parse_s(suffix, content)
            segments = 1 + len(ex.sections) + len(ex.pages)
            bound = 1.5 * (pieces / chunker.max_tokens + len(ex.text) / chunker.max_chars) + segments
            results.append({
                "class": name,
                "file_mb": round(mb, 2),
                "sections": len(ex.sections),
                "load_s_per_mb": round((t1 - t0) / mb, 3),
                "chunk_s_per_mb": round((t2 - t1) / mb, 3),
                "total_s_per_mb": round((t2 - t0) / mb, 3),
                "raw_tokenizer_s_per_mb": round((t3 - t2) / mb, 3),
                "vs_tokenizer": round((t2 - t0) / max(t3 - t2, 1e-9), 2),
                "raw_parser_s_per_mb": round(raw_parse / mb, 3) if raw_parse is not None else None,
                "vs_tokenizer_plus_parser": round((t2 - t0) / max(t3 - t2 + (raw_parse or 0.0), 1e-9), 2),
                "chunks_per_mb": round(len(chunks) / mb, 1),
                "bound": round(bound, 1),
                "within_bound": len(chunks) <= bound,
                "max_chunk_chars": max((len(c.text) for c in chunks), default=0),
            })
    print(json.dumps({"benchmark": "text", "chunk_tokens": chunker.max_tokens, "max_chars": chunker.max_chars,
                      "classes": results}, indent=1))


if __name__ == "__main__":
    main()
