"""The `footnote ask | key | conversations` contract, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.run_suite import ROOT, LlamaServer, SecretService

SERVER_KEY = "sk-cli-server-key-7a6b5c4d3e2f1a0b"
WRONG_KEY = "sk-cli-wrong-key-0f1e2d3c4b5a6978"
QUICK = {"max_answer_tokens": 16, "temperature": 0.0, "n_ctx": 2048, "top_k": 3}


def footnote(data: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop.main", "--data-dir", str(data), *args],
        cwd=str(ROOT), env=env or dict(os.environ), input=stdin, text=True, capture_output=True, timeout=timeout,
    )


@pytest.fixture(scope="module")
def keyring_env() -> Iterator[dict[str, str]]:
    """Environment for subprocesses that reach a real Secret Service."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    if os.environ.get("FOOTNOTE_SECRET_SERVICE") == "1":
        yield env
        return
    with SecretService(private_bus=True) as service:
        env.update(service.env)
        yield env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    from core.modelstore import default_llm_path

    with LlamaServer(default_llm_path(), SERVER_KEY, tmp_path_factory.mktemp("cli-server")) as s:
        yield s


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-lib")
    docs = root / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text(
        "# Green tea\n\nGreen tea is made from the leaves of Camellia sinensis. Green tea originated in China.\n",
        encoding="utf-8")
    (docs / "solar.md").write_text(
        "# Solar power\n\nThe first practical silicon solar cell was built at Bell Labs in 1954.\n", encoding="utf-8")
    d = root / "data"
    d.mkdir()
    (d / "settings.json").write_text(json.dumps(QUICK), encoding="utf-8")
    proc = footnote(d, "ingest", str(docs))
    assert proc.returncode == 0, proc.stderr
    return d


def test_ask_streams_answer_then_sources(data: Path) -> None:
    proc = footnote(data, "ask", "Where", "did", "green", "tea", "originate?", "--backend", "local")
    assert proc.returncode == 0, proc.stderr
    answer, _, sources = proc.stdout.partition("\nSources:\n")
    assert answer.strip()
    lines = [ln for ln in sources.splitlines() if ln]
    if lines:  # the small model may cite nothing; when it cites, the format is exact
        for ln in lines:
            assert ln.startswith("[") and " — " in ln and ln.split(" — ", 1)[1].startswith(str(data.parent / "docs"))
    assert "conversation" in proc.stderr and "local" in proc.stderr


def test_ask_json_object_is_exactly_the_contract(data: Path) -> None:
    proc = footnote(data, "--json", "ask", "When was the first silicon solar cell built?", "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert set(obj) == {"question", "answer", "abstained", "backend", "citations", "timings", "model", "mode",
                        "stopped", "stop_reason", "sentences", "unsupported", "suggestions", "scope", "answerable",
                        "answerable_checks", "abstain_reason", "unsure"}
    assert obj["mode"] == "question" and obj["stopped"] is False and obj["scope"] == []
    assert isinstance(obj["answerable"], float)  # the local model's own yes/no was asked
    checks = obj["answerable_checks"]  # one per passage prefix; their mean is "answerable"
    assert checks and all(0.0 <= p <= 1.0 for p in checks)
    assert abs(sum(checks) / len(checks) - obj["answerable"]) < 1e-3
    if obj["abstain_reason"] not in ("answerability", "relevance", "not_found"):  # the model wrote an answer
        assert isinstance(obj["unsure"], float) and 0.0 <= obj["unsure"] <= 1.0
    for s in obj["sentences"]:
        assert obj["answer"][s["start"]:s["end"]] == s["text"]
        assert set(s["citations"]) <= {c["n"] for c in obj["citations"]}
    assert obj["unsupported"] == [s["text"] for s in obj["sentences"] if not s["supported"]]
    assert obj["question"] == "When was the first silicon solar cell built?"
    assert obj["backend"] in ("local", "cache") and obj["abstained"] is False, (obj["abstain_reason"], proc.stderr[-1500:])
    assert set(obj["timings"]) == {"retrieval_ms", "first_token_ms", "total_ms"}
    for c in obj["citations"]:
        assert set(c) == {"n", "document_id", "source", "title", "section", "page", "text"}


def test_questions_file_one_json_per_line_in_order(data: Path, tmp_path: Path) -> None:
    qfile = tmp_path / "q.txt"
    questions = ["Where did green tea originate?", "", "What is the best lasagne recipe with bechamel?",
                 "Where was the first silicon solar cell built?"]
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    proc = footnote(data, "ask", "--questions-file", str(qfile), "--json")
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [o["question"] for o in objs] == [q for q in questions if q]
    assert objs[1]["abstained"] is True and objs[1]["citations"] == [] and objs[1]["backend"] == "none"
    assert objs[0]["abstained"] is False, objs[0]


def test_conversations_list_show_delete(data: Path) -> None:
    first = footnote(data, "ask", "Where did green tea originate?")
    assert first.returncode == 0, first.stderr
    conv = first.stderr.split("conversation ", 1)[1].split(":", 1)[0]
    follow = footnote(data, "--json", "ask", "What plant is it made from?", "--conversation", conv)
    assert follow.returncode == 0, follow.stderr
    listed = json.loads(footnote(data, "--json", "conversations", "list").stdout)
    mine = [c for c in listed["conversations"] if c["id"] == conv]
    assert mine and mine[0]["messages"] == 4
    shown = footnote(data, "conversations", "show", conv)
    assert shown.returncode == 0 and "You: Where did green tea originate?" in shown.stdout
    shown_json = json.loads(footnote(data, "conversations", "show", conv, "--json").stdout)
    assert [m["role"] for m in shown_json["messages"]] == ["user", "assistant", "user", "assistant"]
    assert footnote(data, "conversations", "delete", conv).returncode == 0
    gone = footnote(data, "conversations", "show", conv)
    assert gone.returncode == 1 and f"conversation {conv}: no such conversation" in gone.stderr
    bad = footnote(data, "ask", "anything", "--conversation", "nope")
    assert bad.returncode == 1 and "conversation nope: no such conversation" in bad.stderr


def _grep_tree(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_key_lifecycle_and_key_never_leaks(data: Path, server: LlamaServer, keyring_env: dict[str, str]) -> None:
    settings = json.loads((data / "settings.json").read_text())
    settings.update(openai_base_url=server.base_url, openai_model="smollm2")
    (data / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    outputs: list[str] = []

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = footnote(data, "-v", *args, env=keyring_env, stdin=stdin)
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    try:
        st = run("--json", "key", "status")
        assert json.loads(st.stdout)["backend"] == "SecretService.Keyring"
        proc = run("key", "set", stdin=SERVER_KEY + "\n")
        assert proc.returncode == 0 and "(GNOME Keyring or KWallet)" in proc.stdout
        st = run("key", "status")
        assert "an OpenAI key is stored in the system keyring (GNOME Keyring or KWallet)" in st.stdout
        assert "SecretService" not in proc.stdout + st.stdout, "no class names in what the user reads"
        ok = run("--json", "ask", "Where did green tea originate?", "--backend", "openai")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["backend"] == "openai"
        ok_text = run("ask", "Where was the first silicon solar cell built?", "--backend", "openai")
        assert ok_text.returncode == 0, ok_text.stderr

        assert run("key", "set", stdin=WRONG_KEY).returncode == 0
        bad = run("--json", "ask", "When was the solar cell built at Bell Labs?", "--backend", "openai")
        assert bad.returncode == 1
        assert "the OpenAI key was refused (401)" in bad.stderr
        assert "401" in json.loads(bad.stdout.splitlines()[-1])["error"]
    finally:
        deleted = run("key", "delete")
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    assert "no OpenAI key is stored" in run("key", "status").stdout
    for key in (SERVER_KEY, WRONG_KEY):
        assert not any(key in out for out in outputs)
        assert _grep_tree(data, key.encode()) == []


def test_no_keyring_backend_points_to_environment(data: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("OPENAI_API_KEY", None)
    st = footnote(data, "key", "status", env=env)
    assert st.returncode == 0
    assert "no system keyring is available" in st.stdout and "OPENAI_API_KEY" in st.stdout
    proc = footnote(data, "key", "set", env=env, stdin=WRONG_KEY)
    assert proc.returncode == 1 and "set OPENAI_API_KEY in the environment instead" in proc.stderr
    assert WRONG_KEY not in proc.stderr + proc.stdout
