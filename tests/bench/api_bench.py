"""The local API's cost: search requests per second through HTTP against ``Engine.search`` in the
same process, and time to the first token of a streamed chat answer through the API against
``footnote ask`` (a fresh CLI process, as a script would run it) and ``Engine.ask`` in process.

The library is a few generated documents; every timed question is new, so no answer comes from
the answer cache. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

os.environ.setdefault("FOOTNOTE_DEFAULT_LLM", "smollm2-135m-instruct-q4_1")

import httpx  # noqa: E402

from core.engine import Engine  # noqa: E402
from core.settings import Settings  # noqa: E402
from desktop.api import ApiConfig, ApiServer, OpenedEngine, create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fn-bench-token"
TOPICS = ["lighthouses", "volcanoes", "green tea", "solar cells", "glaciers", "honey bees", "tides", "comets"]


def make_docs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, topic in enumerate(TOPICS):
        paras = [f"Note {j} about {topic}: the {topic} survey of year {1900 + i * 7 + j} recorded {j * 13 + i} "
                 f"observations near station {chr(65 + j)}, and the report on {topic} was filed by team {i}-{j}."
                 for j in range(40)]
        (folder / f"{topic.replace(' ', '_')}.md").write_text(f"# {topic.title()}\n\n" + "\n\n".join(paras), "utf-8")


def settings() -> Settings:
    return Settings(max_answer_tokens=16, temperature=0.0, n_ctx=2048, top_k=3)


def median_ms(xs: list[float]) -> float:
    return round(statistics.median(xs) * 1000, 1)


def cli_ttft(data: Path, question: str) -> float:
    """Seconds from starting ``footnote ask`` to its first byte of answer on stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(data), "ask", question],
                            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    proc.stdout.read(1)
    first = time.perf_counter() - t0
    proc.communicate(timeout=600)
    return first


def api_ttft(client: httpx.Client, question: str) -> float:
    body = {"model": "footnote", "stream": True, "messages": [{"role": "user", "content": question}]}
    t0 = time.perf_counter()
    first = None
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if first is None and line.startswith("data: {") and '"content": ""' not in line and '"content"' in line:
                first = time.perf_counter() - t0
    if first is None:
        raise RuntimeError("no token came")
    return first


def engine_ttft(engine: Engine, question: str) -> float:
    t0 = time.perf_counter()
    first = None
    for ev in engine.ask(question):
        if ev.kind == "token" and first is None:
            first = time.perf_counter() - t0
    return first if first is not None else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--searches", type=int, default=200)
    ap.add_argument("--questions", type=int, default=3)
    args = ap.parse_args()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_docs(root / "docs")
        data = root / "data"
        engine = Engine(data, settings())
        list(engine.ingest([str(root / "docs")]))
        engine.close()
        qs = [f"How many observations did the {t} survey record near station {chr(66 + k)}?"
              for k in range(args.questions) for t in TOPICS[:3]]
        out["cli_ttft_ms"] = median_ms([cli_ttft(data, q) for q in qs[: args.questions]])

        engine = Engine(data, settings())
        engine.warm_up()
        server = ApiServer(create_app(OpenedEngine(engine), lambda: TOKEN,
                                      ApiConfig(port=0, rate_per_second=1e6, rate_burst=10**6)), port=0)
        server.start()
        try:
            queries = [f"{t} station {chr(65 + k % 20)} year" for k, t in enumerate(TOPICS * (args.searches // len(TOPICS) + 1))]
            queries = queries[: args.searches]
            t0 = time.perf_counter()
            for q in queries:
                engine.search(q)
            raw = len(queries) / (time.perf_counter() - t0)
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600) as c:
                c.post("/v1/search", json={"query": "warm"})
                t0 = time.perf_counter()
                for q in queries:
                    c.post("/v1/search", json={"query": q}).raise_for_status()
                api = len(queries) / (time.perf_counter() - t0)

                def worker(part: list[str]) -> None:
                    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600) as cc:
                        for q in part:
                            cc.post("/v1/search", json={"query": q}).raise_for_status()

                parts = [queries[i::4] for i in range(4)]
                threads = [threading.Thread(target=worker, args=(p,)) for p in parts]
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                api4 = len(queries) / (time.perf_counter() - t0)
                out.update({
                    "search_raw_per_s": round(raw, 1), "search_api_per_s": round(api, 1),
                    "search_api_4_clients_per_s": round(api4, 1), "search_api_vs_raw": round(api / raw, 3),
                })
                engine_ttft(engine, "warm up the model please")
                out["api_ttft_ms"] = median_ms([api_ttft(c, q) for q in qs[args.questions: 2 * args.questions]])
            out["engine_ttft_ms"] = median_ms([engine_ttft(engine, q) for q in qs[2 * args.questions:]])
        finally:
            server.stop()
            engine.close()
    out["note"] = ("cli_ttft includes starting the process and opening the library; api_ttft and engine_ttft "
                   "run against an open, warm library")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
