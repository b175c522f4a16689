"""Footnote's local streaming path against raw llama-cpp-python, in the same run.

The model is the default one (Qwen2.5-Coder-1.5B-Instruct, bundled); ``FOOTNOTE_DEFAULT_LLM``
picks another catalog model.

* decode tokens/s: ``LocalLlama.stream`` vs ``Llama.create_chat_completion(stream=True)``, same
  loaded model, messages and sampling (target ratio >= 0.95);
* time to first token with 5 dev-set passages in the prompt (cold KV cache), both paths;
* cancel latency: from ``cancel.set()`` to the end of the stream, while decoding and while the
  prompt is being evaluated.

Prints one JSON object. Runs are interleaved and the median is reported, because the machine is
shared.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import load_dev  # noqa: E402

from core.answer.generator import StreamStats  # noqa: E402
from core.answer.llama_local import LocalLlama, physical_cores  # noqa: E402
from core.answer.prompt import SYSTEM_PROMPT  # noqa: E402
from core.answer.prompt import source_block as _source_block  # noqa: E402
from core.retrieval import SearchHit  # noqa: E402
from core.settings import Settings  # noqa: E402

ROUNDS = 5
MAX_TOKENS = 96
TEMPERATURE = 0.2
REPEAT_PENALTY = Settings().repeat_penalty  # the same sampling on both paths
STORY = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and a storm."},
]


def five_passages() -> list[dict[str, str]]:
    paras = [p["context"] for art in load_dev()[:5] for p in art["paragraphs"][:1]]
    hits = [SearchHit(f"p{i}", "d", "dev", "Dev", "", None, t[:1100], 1.0, 0.8) for i, t in enumerate(paras)]
    user = "Sources:\n" + "\n\n".join(_source_block(i + 1, h) for i, h in enumerate(hits))
    user += "\n\nQuestion: What is this about?\nAnswer using the sources above and cite them like [1]."
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def ours(gen: LocalLlama, messages: list[dict[str, str]], max_tokens: int, cold: bool) -> dict[str, float]:
    llm = gen.llama()
    if cold:
        llm.reset()
    stats = StreamStats()
    t0 = time.perf_counter()
    first = None
    text = []
    for piece in gen.stream(messages, max_tokens=max_tokens, temperature=TEMPERATURE, stats=stats):
        if first is None:
            first = time.perf_counter()
        text.append(piece)
    end = time.perf_counter()
    return _result(llm, "".join(text), t0, first, end)


def raw(llm: Any, messages: list[dict[str, str]], max_tokens: int, cold: bool) -> dict[str, float]:
    if cold:
        llm.reset()
    t0 = time.perf_counter()
    first = None
    text = []
    for chunk in llm.create_chat_completion(
        messages, stream=True, max_tokens=max_tokens, temperature=TEMPERATURE, top_k=40, top_p=0.95, min_p=0.05,
        repeat_penalty=REPEAT_PENALTY,
    ):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            if first is None:
                first = time.perf_counter()
            text.append(piece)
    end = time.perf_counter()
    return _result(llm, "".join(text), t0, first, end)


def _result(llm: Any, text: str, t0: float, first: float | None, end: float) -> dict[str, float]:
    n = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
    first = first or end
    return {"tokens": n, "ttft_s": first - t0, "decode_tps": (n - 1) / (end - first) if n > 1 and end > first else 0.0}


def cancel_latency(gen: LocalLlama, during_prompt: bool) -> float:
    cancel = threading.Event()
    messages = STORY
    if during_prompt:
        messages = [{"role": "user", "content": "Summarise: " + "The tide rose over the old harbour wall. " * 150}]
        gen.llama().reset()
    stamp: list[float] = []

    def fire() -> None:
        stamp.append(time.perf_counter())
        cancel.set()

    timer = threading.Timer(0.15, fire) if during_prompt else None
    if timer:
        timer.start()
    n = 0
    for _ in gen.stream(messages, max_tokens=400, temperature=TEMPERATURE, cancel=cancel):
        n += 1
        if not during_prompt and n == 10:
            fire()
    end = time.perf_counter()
    if timer:
        timer.join()
    return (end - stamp[0]) * 1000 if stamp else float("nan")


def main() -> None:
    settings = Settings(n_ctx=4096, temperature=TEMPERATURE)
    gen = LocalLlama(settings)
    t0 = time.perf_counter()
    gen.load()
    load_s = time.perf_counter() - t0
    llm = gen.llama()
    ours(gen, STORY, 8, cold=True)  # warm both code paths once
    raw(llm, STORY, 8, cold=True)
    rows: dict[str, list[dict[str, float]]] = {"ours": [], "raw": [], "ours_ttft": [], "raw_ttft": []}
    ctx5 = five_passages()
    for _ in range(ROUNDS):
        rows["raw"].append(raw(llm, STORY, MAX_TOKENS, cold=False))
        rows["ours"].append(ours(gen, STORY, MAX_TOKENS, cold=False))
        rows["ours_ttft"].append(ours(gen, ctx5, 1, cold=True))
        rows["raw_ttft"].append(raw(llm, ctx5, 1, cold=True))

    def med(key: str, field: str) -> float:
        return statistics.median(r[field] for r in rows[key])

    ours_tps, raw_tps = med("ours", "decode_tps"), med("raw", "decode_tps")
    # Paired per-round ratios (each round runs both back to back) resist the drifting load of a
    # shared machine better than a ratio of medians.
    paired = [o["decode_tps"] / r["decode_tps"] for o, r in zip(rows["ours"], rows["raw"], strict=True) if r["decode_tps"]]
    ttft_paired = [r["ttft_s"] / o["ttft_s"] for o, r in zip(rows["ours_ttft"], rows["raw_ttft"], strict=True) if o["ttft_s"]]
    cancels = [cancel_latency(gen, False) for _ in range(3)]
    prompt_cancels = [cancel_latency(gen, True) for _ in range(3)]
    out = {
        "benchmark": "generation_bench",
        "model": Path(gen.model_path()).name,
        "n_threads": physical_cores(),
        "load_s": round(load_s, 2),
        "max_tokens": MAX_TOKENS,
        "temperature": TEMPERATURE,
        "rounds": ROUNDS,
        "decode_tokens_per_s": {"footnote": round(ours_tps, 1), "raw_llama_cpp": round(raw_tps, 1),
                                "ratio_of_medians": round(ours_tps / raw_tps, 3) if raw_tps else None,
                                "ratio_paired_median": round(statistics.median(paired), 3) if paired else None},
        "tokens_generated": {"footnote": med("ours", "tokens"), "raw_llama_cpp": med("raw", "tokens")},
        "ttft_5_chunks_ms": {
            "prompt_tokens": len(gen.prompt_tokens(ctx5)),
            "footnote": round(med("ours_ttft", "ttft_s") * 1000, 1),
            "raw_llama_cpp": round(med("raw_ttft", "ttft_s") * 1000, 1),
            "speed_ratio_paired_median": round(statistics.median(ttft_paired), 3) if ttft_paired else None,
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cancel_latency_ms": {
            "while_decoding_median": round(statistics.median(cancels), 1),
            "while_decoding_max": round(max(cancels), 1),
            "during_prompt_eval_median": round(statistics.median(prompt_cancels), 1),
            "during_prompt_eval_max": round(max(prompt_cancels), 1),
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
