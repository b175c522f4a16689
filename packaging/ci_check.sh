#!/usr/bin/env bash
# CI check of the frozen app, run after `make package`:  packaging/ci_check.sh [dist/Footnote]
#
# 1. `footnote --self-test` in a clean environment: env -i (no .venv on PATH, PYTHONPATH unset, no
#    FOOTNOTE_DEFAULT_LLM), run from an empty folder, so a library, model or data file missing from
#    the bundle fails here; the answer must come from the bundled Qwen2.5-Coder-1.5B default.
# 2. The keyring check once more against a real Secret Service (gnome-keyring-daemon inside
#    dbus-run-session), when those tools are installed: the frozen app must find SecretService.
# 3. The GUI once under Xvfb: the window "Footnote" appears (and is mapped, with an icon), the
#    engine opens in its worker, SIGTERM closes it, and the exit code is 0 with no traceback.
# Every wait is bounded. Exit status 0 only when every check passed.
set -uo pipefail

# -- the GUI part, run inside xvfb-run by step 3 ------------------------------------------------
gui_inner() {
  local app=$1 tmp=$2 limit=$3 pid wid= id icon cls rc t0=$SECONDS
  local log=$tmp/gui.err deadline=$(( SECONDS + limit )) ok=0
  env -i PATH=/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8 DISPLAY="$DISPLAY" XAUTHORITY="${XAUTHORITY:-}" \
    XDG_CONFIG_HOME="$tmp/gui-config" QT_QPA_PLATFORM=xcb \
    "$app" --data-dir "$tmp/gui-data" -v >"$tmp/gui.stdout" 2>"$log" &
  pid=$!
  while [ $SECONDS -lt $deadline ] && kill -0 "$pid" 2>/dev/null; do
    for id in $(xwininfo -root -tree 2>/dev/null | awk '/ "Footnote": / {print $1}'); do
      if xwininfo -id "$id" 2>/dev/null | grep -q "Map State: IsViewable"; then wid=$id; break; fi
    done
    [ -n "$wid" ] && break
    sleep 0.5
  done
  if [ -z "$wid" ]; then
    echo "FAIL  GUI: no mapped window named Footnote within ${limit} s"
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    sed 's/^/      | /' "$log" | tail -n 30
    return 1
  fi
  echo "PASS  GUI: window \"Footnote\" mapped after $(( SECONDS - t0 )) s (id $wid;" \
    "$(grep -m1 -o 'window shown seconds=[0-9.]*' "$log" || echo 'no timing in the log'))"
  icon=$(xprop -id "$wid" _NET_WM_ICON 2>/dev/null | head -c 300)
  cls=$(xprop -id "$wid" WM_CLASS 2>/dev/null)
  case "$icon" in
    *"_NET_WM_ICON(CARDINAL) = "*) echo "PASS  GUI: window icon set; $cls" ;;
    *) echo "FAIL  GUI: the window has no icon (_NET_WM_ICON)"; ok=1 ;;
  esac
  # Let the engine open in its worker (FastEmbed, Qdrant: frozen imports on the GUI path), then quit.
  while [ $SECONDS -lt $deadline ] && ! grep -q "engine state=" "$log" && kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
  grep -m1 -o "engine state=[a-z_]*" "$log" | sed 's/^/      /'
  kill -TERM "$pid" 2>/dev/null
  local waited=0
  while kill -0 "$pid" 2>/dev/null && [ $waited -lt 60 ]; do sleep 0.5; waited=$(( waited + 1 )); done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL  GUI: still running 30 s after SIGTERM"
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid"; rc=$?
  if [ $rc -eq 0 ] && ! grep -q "Traceback" "$log"; then
    echo "PASS  GUI: SIGTERM closed the window; exit code 0"
  else
    echo "FAIL  GUI: exit code $rc after SIGTERM$(grep -q Traceback "$log" && echo ', with a traceback')"
    sed 's/^/      | /' "$log" | tail -n 30
    ok=1
  fi
  return $ok
}

if [ "${1:-}" = "--gui-inner" ]; then
  gui_inner "$2" "$3" "$4"
  exit $?
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIST=${1:-$ROOT/dist/Footnote}
APP=$(cd "$DIST" 2>/dev/null && pwd)/footnote
SELFTEST_TIMEOUT=${SELFTEST_TIMEOUT:-600}
EXPECTED_MODEL=${EXPECTED_MODEL:-"Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)"}  # the bundled default answers
GUI_TIMEOUT=${GUI_TIMEOUT:-120}
TMP=$(mktemp -d /tmp/footnote-ci.XXXXXX)
FAILED=0
APP_PID=

cleanup() {
  if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then kill -KILL "$APP_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; FAILED=1; }
show() { sed 's/^/      | /' "$1" | tail -n "${2:-25}"; }

# The clean environment: nothing from the build machine's Python leaks in.
CLEAN=(env -i PATH=/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8)

json_field() {  # json_field FILE EXPR -> prints the value, using the system python3 (not the venv)
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8").read().splitlines() if l.strip()]
if len(lines) != 1:
    print(f"expected one JSON line on stdout, got {len(lines)}"); sys.exit(2)
obj = json.loads(lines[0])
print(eval(sys.argv[2], {}, {"o": obj}))
EOF
}

if [ ! -x "$APP" ]; then
  echo "FAIL  no executable at $DIST/footnote: run \`make package\` first"
  exit 1
fi
echo "# frozen app: $APP ($(du -sh "$DIST" | cut -f1))"

# -- 1. self-test, clean environment ------------------------------------------------------------
mkdir -p "$TMP/empty"
start=$(date +%s)
(cd "$TMP/empty" && timeout -k 10 "$SELFTEST_TIMEOUT" "${CLEAN[@]}" "$APP" --self-test \
  >"$TMP/selftest.json" 2>"$TMP/selftest.err")
rc=$?
model=$(json_field "$TMP/selftest.json" 'o.get("model")' 2>&1)
if [ $rc -eq 0 ] && [ "$(json_field "$TMP/selftest.json" 'o["ok"]' 2>&1)" = "True" ] \
   && [ "$model" = "$EXPECTED_MODEL" ]; then
  pass "self-test in a clean environment: $model answered with a citation ($(( $(date +%s) - start )) s)"
  cat "$TMP/selftest.json"
else
  fail "self-test in a clean environment (exit $rc, model: $model, expected $EXPECTED_MODEL)"
  show "$TMP/selftest.json"; show "$TMP/selftest.err"
fi

# -- 2. keyring against a real Secret Service ---------------------------------------------------
if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  mkdir -p "$TMP/keyring-data"
  timeout -k 5 60 dbus-run-session -- bash -c '
    eval "$(printf footnote-ci | XDG_DATA_HOME="$1" gnome-keyring-daemon --unlock --components=secrets)"
    cd "$2" && env -i PATH=/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8 DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS" \
      FOOTNOTE_SELFTEST_ONLY=keyring "$3" --self-test' _ "$TMP/keyring-data" "$TMP/empty" "$APP" \
    >"$TMP/keyring.json" 2>"$TMP/keyring.err"
  rc=$?
  backend=$(json_field "$TMP/keyring.json" 'o["keyring"]["backend"] if o["ok"] and o["keyring"]["usable"] else "-"' 2>&1)
  if [ $rc -eq 0 ] && [ "$backend" = "SecretService.Keyring" ]; then
    pass "keyring: the frozen app uses $backend"
  else
    fail "keyring: expected SecretService.Keyring with a Secret Service running (exit $rc, got: $backend)"
    show "$TMP/keyring.json"; show "$TMP/keyring.err"
  fi
else
  echo "SKIP  keyring against a Secret Service (dbus-run-session or gnome-keyring-daemon missing)"
fi

# -- 3. GUI under Xvfb ----------------------------------------------------------------------------
if ! command -v xvfb-run >/dev/null; then
  fail "GUI: xvfb-run is not installed (apt-get install xvfb xauth)"
else
  timeout -k 10 $(( GUI_TIMEOUT + 60 )) xvfb-run -a -s "-screen 0 1280x800x24" \
    bash "$ROOT/packaging/ci_check.sh" --gui-inner "$APP" "$TMP" "$GUI_TIMEOUT" >"$TMP/gui.out" 2>&1
  rc=$?
  cat "$TMP/gui.out"
  [ $rc -eq 0 ] || fail "GUI under Xvfb (exit $rc)"
fi

if [ $FAILED -eq 0 ]; then echo "ci_check: all passed"; else echo "ci_check: FAILED"; fi
exit $FAILED
