"""Keyboard and screen-reader access to the whole window and the settings dialog.

Tab is pressed for real, from the first control round to it again: every visible, enabled control
that takes focus must be reached, and each must have a name a screen reader can announce (its
accessible name, the label it is the buddy of, or a button's own words). Every action a user needs
must be in the menu bar with a shortcut or a mnemonic, and those keys must do what they say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QMenu, QRadioButton, QTabBar, QWidget

from core.answer import AnswerEvent
from desktop.services import Services
from tests.ui.conftest import open_window
from tests.ui.helpers import all_ready, drop
from tests.ui.scripted import ScriptedEngine, answer, cite, sentences
from ui import main_window, settings_dialog
from ui.settings_dialog import SettingsDialog

MS = 30_000
SUPPORTED = "The first practical silicon solar cell was built at Bell Labs in 1954 [1]."


def solar_script(eng: ScriptedEngine, q: str, _kw: dict[str, Any]) -> Iterator[AnswerEvent]:
    solar = eng.hit("silicon solar cell Bell Labs", "solar.md")
    yield AnswerEvent("retrieved", chunks=(solar,))
    yield AnswerEvent("token", SUPPORTED)
    yield AnswerEvent("done", answer=answer(q, SUPPORTED, citations=[cite(1, solar)],
                                            sentences=sentences(SUPPORTED, (SUPPORTED, [1], True))))


@pytest.fixture
def full(qtbot, data_dir: Path, docs: Path):  # type: ignore[no-untyped-def]
    """The window with everything a user can reach shown: documents, an answer with its sources,
    the source viewer, the crawl options and a chat scoped to a document."""
    services = Services(data_dir, engine_factory=lambda d: ScriptedEngine(d, lambda: solar_script))
    w = open_window(qtbot, services)
    drop(w, sorted(docs.iterdir()))
    qtbot.waitUntil(lambda: all_ready(w, ["solar.md", "tea.md", "volcano.md"]), timeout=120_000)
    qtbot.waitUntil(lambda: not w.jobs.isVisible(), timeout=120_000)
    w.chat.input.setPlainText("Who built the first solar cell?")
    with qtbot.waitSignal(w.answer_started, timeout=10_000):
        QTest.keyClick(w.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(w.chat.answers) and w.chat.answers[-1].finished, timeout=MS)
    w.chat.answers[-1].sources.linkActivated.emit("cite:1")
    qtbot.waitUntil(lambda: w.viewer.isVisible(), timeout=MS)
    w.import_bar.crawl.setChecked(True)
    solar = next(d for d in w.library.model.documents() if d.source.endswith("solar.md"))
    w.chat.set_scope([(solar.id, solar.title)])
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=MS)
    yield w
    w.close()
    assert services.shutdown(10.0)


# -- the tab order ------------------------------------------------------------------------------


def describe(w: QWidget) -> str:
    hint = w.objectName() or getattr(w, "placeholderText", lambda: "")() or getattr(w, "text", lambda: "")()
    return f"{type(w).__name__}({hint!s:.40})"


def spoken_name(w: QWidget) -> str:
    """What a screen reader says for a control: its accessible name, else the text of the label
    it is the buddy of, else a button's, tab bar's or link label's own words (a bare symbol such
    as "✕" is not a name). A combo box's current item is its value, not its name."""
    if w.accessibleName().strip():
        return w.accessibleName()
    for label in w.window().findChildren(QLabel):
        if label.buddy() is w and label.text().replace("&", "").strip():
            return label.text().replace("&", "")
    own = ""
    if isinstance(w, QAbstractButton | QLabel):
        own = w.text()
    elif isinstance(w, QTabBar):
        own = " ".join(w.tabText(i) for i in range(w.count()))
    return own if re.search(r"[^\W\d_]", re.sub(r"<[^>]+>", "", own)) else ""


def tab_stops(window: QWidget) -> list[QWidget]:
    """Every control Tab should stop at: in the focus chain, visible, enabled, taking Tab focus
    itself (not through a focus proxy). Of a group of exclusive radio buttons Tab stops at the
    checked one only; the arrow keys move within the group."""
    out, w = [], window.nextInFocusChain()
    while w is not window:
        if (w.window() is window and w.isVisible() and w.isEnabled() and w.focusProxy() is None
                and w.focusPolicy().value & Qt.FocusPolicy.TabFocus.value
                and not (isinstance(w, QRadioButton) and not w.isChecked())):
            out.append(w)
        w = w.nextInFocusChain()
    return out


def press_tab_round(qtbot, window: QWidget) -> list[QWidget]:  # type: ignore[no-untyped-def]
    """Press Tab from the first control until focus comes back to it; the controls reached, in order."""
    start = tab_stops(window)[0]
    start.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start, timeout=MS)
    reached: list[QWidget] = [start]
    stuck = 0
    for _ in range(600):
        before = QApplication.focusWidget()
        assert before is not None
        QTest.keyClick(before, Qt.Key.Key_Tab)
        now = QApplication.focusWidget()
        assert now is not None and now.window() is window, f"Tab left the window from {describe(before)}"
        if now is start:
            return reached
        stuck = stuck + 1 if now is before else 0  # a label with links takes one Tab per link
        assert stuck < 30, f"Tab is trapped in {describe(now)}"
        if now not in reached:
            reached.append(now)
    raise AssertionError(f"Tab never came back to {describe(start)}; reached {[describe(w) for w in reached]}")


def check_tab_order(qtbot, window: QWidget) -> list[QWidget]:  # type: ignore[no-untyped-def]
    expected = tab_stops(window)
    assert len(expected) >= 2
    reached = press_tab_round(qtbot, window)
    missed = [describe(w) for w in expected if w not in reached]
    assert not missed, f"Tab never reaches {missed}"
    unnamed = [describe(w) for w in reached if not spoken_name(w)]
    assert not unnamed, f"no accessible name for {unnamed}"
    return reached


def test_tab_reaches_every_control_of_the_window_and_each_has_a_name(qtbot, full) -> None:
    w = full
    reached = check_tab_order(qtbot, w)
    for control in (w.import_bar.url, w.import_bar.depth_box, w.chat.input, w.chat.send_button, w.library.view,
                    w.library.filter, w.conversations.list, w.viewer.open_button, w.chat.answers[-1].copy_button):
        assert control in reached, describe(control)


def test_tab_reaches_every_control_of_each_settings_page(qtbot, services: Services) -> None:
    dlg = SettingsDialog(services)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dlg, timeout=MS)
    tabs = dlg.findChild(QTabBar)
    assert tabs is not None and tabs.count() >= 2
    for page in range(tabs.count()):
        tabs.setCurrentIndex(page)
        qtbot.waitUntil(lambda: tabs.currentIndex() == page, timeout=MS)  # noqa: B023
        check_tab_order(qtbot, dlg)
    dlg.reject()


# -- keyboard paths to every action ------------------------------------------------------------------


def window_actions(w: Any) -> dict[str, QAction]:
    """What a user must be able to do from the keyboard, by what they would call it."""
    return {
        "import files": w.add_files_action, "import a folder": w.add_folder_action, "paste a link": w.url_action,
        "ask": w.ask_action, "stop": w.stop_action, "new conversation": w.new_action,
        "remove document": w.library.remove_action, "open original": w.library.open_action,
        "re-import": w.library.reimport_action, "copy answer": w.copy_action, "settings": w.settings_action,
        "models": w.models_action, "about": w.about_action, "quit": w.quit_action,
    }


def mnemonic(text: str) -> str:
    m = re.search(r"&([^&\s])", text)
    return m.group(1).lower() if m else ""


def menu_of(window: Any, action: QAction) -> QMenu | None:
    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu) and action in menu.actions():
            return menu
    return None


def test_every_action_has_a_keyboard_path(full) -> None:
    w = full
    menus = [a.menu() for a in w.menuBar().actions() if isinstance(a.menu(), QMenu)]
    tops = [mnemonic(a.text()) for a in w.menuBar().actions()]
    assert all(tops) and len(set(tops)) == len(tops), f"menu titles need distinct mnemonics: {tops}"
    for menu in menus:
        letters = [mnemonic(a.text()) for a in menu.actions() if not a.isSeparator() and mnemonic(a.text())]
        assert len(set(letters)) == len(letters), f"{menu.title()}: two items share a mnemonic {letters}"
    for what, action in window_actions(w).items():
        menu = menu_of(w, action)
        assert menu is not None, f"{what}: not in the menu bar"
        assert not action.shortcut().isEmpty() or mnemonic(action.text()), \
            f"{what}: '{action.text()}' in {menu.title()} has neither a shortcut nor a mnemonic"
    # Qt ignores a key bound twice in one window (neither fires): every shortcut has one owner.
    owners: dict[str, list[object]] = {}
    for obj in [*w.findChildren(QAction), *w.findChildren(QShortcut)]:
        for seq in (obj.shortcuts() if isinstance(obj, QAction) else [obj.key()]):
            if seq.toString():
                owners.setdefault(seq.toString(), []).append(obj)
    twice = {k: [getattr(o, "text", lambda: "shortcut")() for o in v] for k, v in owners.items() if len(v) > 1}
    assert not twice, f"keys bound twice: {twice}"


def test_the_keys_do_what_the_menus_say(qtbot, full, monkeypatch) -> None:
    w = full
    picked: list[str] = []
    monkeypatch.setattr(main_window.ChooseFiles, "ask", classmethod(lambda cls, parent: picked.append("files") or []))
    monkeypatch.setattr(main_window.ChooseFolder, "ask", classmethod(lambda cls, parent: picked.append("folder")))
    monkeypatch.setattr(settings_dialog.SettingsDialog, "ask",
                        classmethod(lambda cls, parent, services: picked.append("settings")))

    def keys(seq: QKeySequence | str) -> None:
        QTest.keySequence(QApplication.focusWidget() or w, QKeySequence(seq))

    w.chat.input.setFocus()
    keys(w.add_files_action.shortcut())
    keys(w.settings_action.shortcut())
    assert picked == ["files", "settings"]
    keys(w.url_action.shortcut())
    assert QApplication.focusWidget() is w.import_bar.url
    # Ask: the typed question is sent from the menu's shortcut as by Enter.
    w.chat.input.setFocus()
    w.chat.input.setPlainText("And when was it built?")
    with qtbot.waitSignal(w.answer_started, timeout=10_000):
        keys(w.ask_action.shortcut())
    qtbot.waitUntil(lambda: w.chat.answers[-1].finished, timeout=MS)
    keys(w.models_action.shortcut())
    qtbot.waitUntil(lambda: w.model_manager is not None and w.model_manager.isVisible(), timeout=MS)
    w.model_manager.close()
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=MS)
    # A mnemonic path: Alt+F opens File, its item's letter picks "Add folder…".
    QTest.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=MS)
    QTest.keyClicks(QApplication.activePopupWidget(), mnemonic(w.add_folder_action.text()))
    qtbot.waitUntil(lambda: picked[-1:] == ["folder"], timeout=MS)
