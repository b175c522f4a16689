"""The guarded parse worker: a reader that hangs, eats memory, crashes or raises costs one item,
with a reason a person can act on, and the next item gets a working reader."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from core.errors import LoadError, UnsupportedFileType
from core.ingest.guard import ImportCancelled, Limits, ParseGuard
from tests.core import guard_targets as t


@pytest.fixture
def guard() -> Iterator[ParseGuard]:
    g = ParseGuard(Limits(memory_mb=512, timeout_s=3), workers=2)
    yield g
    g.close()


def test_result_comes_back_from_another_process(guard: ParseGuard) -> None:
    import os

    assert guard.call("a.txt", t.echo, "tides") == "TIDES"
    assert guard.call("a.txt", t.pid) != os.getpid()


def test_reader_errors_keep_their_reason_and_kind(guard: ParseGuard) -> None:
    with pytest.raises(LoadError, match=r"^shot\.txt: this is a PNG image, not text$"):
        guard.call("shot.txt", t.refuse, "shot.txt")
    with pytest.raises(UnsupportedFileType):
        guard.call("shot.png", t.unsupported, "shot.png")


def test_a_reader_that_hangs_is_stopped_and_replaced(guard: ParseGuard) -> None:
    with pytest.raises(LoadError, match=r"slow\.pdf: took longer than 3 s to read, so it was stopped"):
        guard.call("slow.pdf", t.hang, 120)
    assert guard.call("next.txt", t.echo, "ok") == "OK"


def test_a_reader_that_needs_too_much_memory_is_stopped(guard: ParseGuard) -> None:
    with pytest.raises(LoadError, match=r"bomb\.docx: needed more than 512 MB of memory to read"):
        guard.call("bomb.docx", t.gobble, 2048)
    assert guard.call("next.txt", t.echo, "ok") == "OK"


@pytest.mark.parametrize("crash", [t.segfault, t.exit_hard])
def test_a_reader_that_crashes_costs_only_its_item(guard: ParseGuard, crash: object) -> None:
    with pytest.raises(LoadError, match=r"broken\.pdf: the reader crashed"):
        guard.call("broken.pdf", crash)  # type: ignore[arg-type]
    assert guard.call("next.txt", t.echo, "ok") == "OK"


def test_unexpected_exceptions_name_their_type(guard: ParseGuard) -> None:
    with pytest.raises(LoadError, match=r"deep\.html: the reader failed \(RecursionError\)"):
        guard.call("deep.html", t.recurse, 10**6)


def test_cancel_stops_a_running_read(guard: ParseGuard) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ImportCancelled):
        guard.call("slow.pdf", t.hang, 120, cancel=cancel)
    assert time.monotonic() - started < 2.5  # well before the 3 s limit: the read was stopped
    assert guard.call("next.txt", t.echo, "ok") == "OK"


def test_map_keeps_order_passes_known_failures_and_isolates_bad_items(guard: ParseGuard) -> None:
    known = LoadError("gone.txt", "no such file")
    items = [("a", t.echo, ("a",)), ("gone.txt", None, (known,)), ("crash", t.exit_hard, ()),
             ("b", t.echo, ("b",)), ("c", t.echo, ("c",))]
    out = list(guard.map(items))
    assert [s for s, _ in out] == ["a", "gone.txt", "crash", "b", "c"]
    assert out[0][1] == "A" and out[3][1] == "B" and out[4][1] == "C"
    assert out[1][1] is known
    assert isinstance(out[2][1], LoadError) and "crashed" in str(out[2][1])


def test_map_runs_items_side_by_side(guard: ParseGuard) -> None:
    pids = {result for _s, result in guard.map([(str(i), t.pid, ()) for i in range(8)])}
    assert len(pids) == 2


def test_close_stops_a_read_in_progress() -> None:
    g = ParseGuard(Limits(timeout_s=60), workers=1)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            g.call("slow.pdf", t.hang, 60)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    th = threading.Thread(target=read)
    th.start()
    time.sleep(1.0)
    g.close()
    th.join(5)
    assert not th.is_alive()
    assert errors and isinstance(errors[0], ImportCancelled)


def _always_small(source: str, args: tuple[object, ...]) -> bool:
    return True


@pytest.mark.parametrize("bad", [(t.hang, (120,)), (t.exit_hard, ()), (t.gobble, (2048,))])
def test_a_bad_item_in_a_batch_of_small_ones_costs_only_itself(guard: ParseGuard, bad: tuple[object, tuple[object, ...]]) -> None:
    fn, args = bad
    items = [(f"f{i}.txt", t.echo, (f"f{i}",)) for i in range(6)]
    items.insert(3, ("bad.txt", fn, args))  # type: ignore[arg-type]
    out = dict(guard.map(items, small=_always_small))  # type: ignore[arg-type]
    assert [out[f"f{i}.txt"] for i in range(6)] == [f"F{i}" for i in range(6)]
    assert isinstance(out["bad.txt"], LoadError) and str(out["bad.txt"]).startswith("bad.txt: ")


def test_small_items_share_round_trips(guard: ParseGuard) -> None:
    out = list(guard.map([(str(i), t.pid, ()) for i in range(32)], small=_always_small))
    assert len({pid for _s, pid in out}) <= 2 and [s for s, _ in out] == [str(i) for i in range(32)]
