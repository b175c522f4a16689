"""``footnote --self-test`` from the source tree: the same logic CI runs in the frozen app
(``packaging/ci_check.sh``), so a broken self-test fails ``make test`` before anyone packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import selftest

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = {"start", "model_load", "embedding_load", "llm_load", "import", "first_token", "answer", "total"}


def _run(extra_env: dict[str, str] | None = None, timeout: float = 280,
         real_default: bool = False) -> tuple[int, dict, str]:
    env = dict(os.environ, **(extra_env or {}))
    env.pop("FOOTNOTE_DATA_DIR", None)
    if real_default:  # the app's own default model, not the suite's fast SmolLM2
        env.pop("FOOTNOTE_DEFAULT_LLM", None)
    proc = subprocess.run(
        [sys.executable, "-m", "desktop.main", "--self-test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"stdout must be one JSON line, got {proc.stdout!r}; stderr: {proc.stderr[-2000:]}"
    return proc.returncode, json.loads(lines[0]), proc.stderr


@pytest.mark.slow
def test_self_test_answers_with_a_citation_to_the_sample() -> None:
    code, out, err = _run(real_default=True)
    assert code == 0 and out["ok"] is True, f"{out}\n{err[-2000:]}"
    assert out["model"] == "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)"
    assert out["backend"] == "local"
    assert out["citations"] >= 1
    assert isinstance(out["gpu_offload"], bool)
    assert set(out["timings_ms"]) == TIMINGS
    assert all(isinstance(v, (int, float)) and v >= 0 for v in out["timings_ms"].values()), out["timings_ms"]
    kr = out["keyring"]
    assert kr["usable"] or kr["message"].startswith("no system keyring is available")
    assert "Traceback" not in err


def test_keyring_only_run_is_quick_and_reports_the_backend() -> None:
    code, out, _ = _run({"FOOTNOTE_SELFTEST_ONLY": "keyring"}, timeout=120)
    assert code == 0 and out["ok"] is True, out
    assert out["only"] == "keyring"
    assert out["keyring"]["backend"]


def test_a_missing_sample_fails_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(selftest, "assets_dir", lambda: tmp_path)
    code = selftest.run(timeout_s=60)
    out = capfd.readouterr().out
    result = json.loads(out.strip())
    assert code == selftest.EXIT_FAILED
    assert result["ok"] is False and result["stage"] == "sample"
    assert "sample document is missing" in result["reason"]


def test_a_run_past_its_time_limit_fails_with_a_reason() -> None:
    code, out, _ = _run({"FOOTNOTE_SELFTEST_TIMEOUT": "0.01"}, timeout=120)
    assert code == selftest.EXIT_TIMEOUT
    assert out["ok"] is False and "did not finish within" in out["reason"]
