"""The real app (``desktop.app.run_app``) put into one state for the quit tests.

    QUIT_TEST_STATE=importing python tests/ui/quit_app.py --data-dir DIR [--folder F] [--model ID]

Prints ``quit-test state=<name>`` on stderr once the state is reached; the test then sends SIGTERM.
States: ``opening`` (the library and the model are still loading), ``idle``, ``importing`` (a
folder, mid-embedding), ``asking`` (the answer has started: retrieval, prompt reading),
``answering`` (tokens are streaming), ``downloading`` (a model download is under way).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MARK = "quit-test state="
QUESTION = "Write a long, detailed essay about green tea: where it comes from, how it is made and why."


def mark(state: str) -> None:
    # Straight to fd 2: while llama.cpp loads a model, sys.stderr is redirected process-wide.
    os.write(2, f"{MARK}{state}\n".encode())


def drive(window: Any, state: str, folder: str, model: str) -> None:
    services = window.services
    once: set[str] = set()
    slots: list[Any] = []

    def reach(name: str) -> None:
        if name not in once:
            once.add(name)
            mark(name)

    if state == "opening":
        reach("opening")
        return

    def on_state(engine_state: str, _message: str) -> None:
        if engine_state != "ready" or "started" in once:
            return
        once.add("started")
        if state == "idle":
            reach("idle")
        elif state == "importing":
            def on_event(ev: Any) -> None:
                if ev.kind == "embedded":
                    reach("importing")

            slots.append(on_event)  # kept alive here, whatever the binding does with the connection
            services.import_started.connect(lambda job: job.event.connect(on_event))
            window.import_paths([folder])
        elif state in ("asking", "answering"):
            def started(job: Any) -> None:
                if state == "asking":
                    reach("asking")
                else:
                    job.token.connect(lambda _t: reach("answering"))

            window.answer_started.connect(started)
            window.ask(QUESTION)
        elif state == "downloading":
            job = services.install_model(model)
            job.progress.connect(lambda _p: reach("downloading"))

    services.engine_state.connect(on_state)


def main() -> int:
    import multiprocessing

    multiprocessing.freeze_support()
    from desktop.app import run_app
    from desktop.main import _configure_logging

    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--folder", default="")
    parser.add_argument("--model", default="")
    args = parser.parse_args()
    _configure_logging(False)
    state = os.environ["QUIT_TEST_STATE"]
    return run_app(argparse.Namespace(data_dir=args.data_dir),
                   on_window=lambda w: drive(w, state, args.folder, args.model))


if __name__ == "__main__":
    sys.exit(main())
