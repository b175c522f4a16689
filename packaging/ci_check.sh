#!/usr/bin/env bash
# CI check of the frozen app, run after `make package`:  packaging/ci_check.sh [dist/Footnote]
#
# 1. `footnote --self-test` in a clean environment: env -i (no .venv on PATH, PYTHONPATH unset, no
#    FOOTNOTE_DEFAULT_LLM), run from an empty folder, so a library, model or data file missing from
#    the bundle fails here; the answer must come from the bundled Qwen2.5-Coder-1.5B default.
# 2. The keyring check once more against a real Secret Service (gnome-keyring-daemon inside
#    dbus-run-session), when those tools are installed: the frozen app must find SecretService.
# 3. Hostile input through the frozen app's guarded parse workers (spawned processes need
#    multiprocessing.freeze_support in the bundle): deep HTML and text without spaces import, a Word
#    bomb and an image named .txt are refused with reasons, exit code 2, no traceback.
# 4. The local API (FastAPI + uvicorn bundled): `footnote serve` answers /v1/search with the token
#    and refuses a wrong one with 401.
# 5. The GUI once under Xvfb: the window "Footnote" appears (and is mapped, with an icon), the
#    engine opens in its worker, SIGTERM closes it, and the exit code is 0 with no traceback.
# Every wait is bounded. Exit status 0 only when every check passed.
set -uo pipefail

# -- the GUI part, run inside xvfb-run by step 5 ------------------------------------------------
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

# -- 3. hostile input through the frozen app's guarded parse workers (spawned processes) ----------
mkdir -p "$TMP/hostile/docs"
/usr/bin/python3 - "$TMP/hostile/docs" <<'PYEOF'
import sys, zipfile
d = sys.argv[1]
open(f"{d}/deep.html", "w").write("<html><body>" + "<div>" * 30000 + "<p>Frozen fjords carved by ice</p>"
                                  + "</div>" * 30000 + "</body></html>")
open(f"{d}/chinese.txt", "w", encoding="utf-8").write("北京是中国的首都" * 4000)
open(f"{d}/photo.txt", "wb").write(b"\x89PNG\r\n\x1a\n" + bytes(64))
with zipfile.ZipFile(f"{d}/bomb.docx", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", "<Types/>")
    with z.open("word/document.xml", "w", force_zip64=True) as fh:  # 300 MB unpacked, a few hundred KB packed
        block = b"<w:p/>" * 100_000
        for _ in range(500):
            fh.write(block)
PYEOF
(cd "$TMP/empty" && timeout -k 10 300 "${CLEAN[@]}" "$APP" --data-dir "$TMP/hostile/data" --json ingest "$TMP/hostile/docs" \
  >"$TMP/hostile.json" 2>"$TMP/hostile.err")
rc=$?
summary=$(json_field "$TMP/hostile.json" '(sorted(r["source"].rsplit("/",1)[1] for r in o["imported"]), sorted(r["source"].rsplit("/",1)[1] for r in o["failed"]))' 2>&1)
if [ $rc -eq 2 ] && [ "$summary" = "(['chinese.txt', 'deep.html'], ['bomb.docx', 'photo.txt'])" ] \
   && ! grep -q Traceback "$TMP/hostile.err"; then
  pass "hostile input: deep HTML and text without spaces imported, a Word bomb and a mislabelled image refused, exit 2"
else
  fail "hostile input through the guarded parse workers (exit $rc, got: $summary)"
  show "$TMP/hostile.json"; show "$TMP/hostile.err"
fi

# -- 4. the local API (FastAPI + uvicorn inside the frozen app) --------------------------------------
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$TMP/empty" && exec "${CLEAN[@]}" FOOTNOTE_API_TOKEN=ci-token-5e1 "$APP" --data-dir "$TMP/hostile/data" serve \
  --port "$PORT" >"$TMP/serve.out" 2>"$TMP/serve.err") &
SERVE_PID=$!
api_ok=0
for _ in $(seq 1 60); do
  if /usr/bin/python3 - "$PORT" >"$TMP/api.out" 2>&1 <<'PYEOF'
import json, sys, urllib.error, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def call(path, data=None, token="ci-token-5e1"):
    req = urllib.request.Request(base + path, data=json.dumps(data).encode() if data else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=10))
hits = call("/v1/search", {"query": "fjords carved by ice"})["data"]
assert hits and hits[0]["source"].endswith("deep.html"), hits
try:
    call("/v1/documents", token="wrong")
    raise SystemExit("a wrong token was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 401, e.code
print("ok")
PYEOF
  then api_ok=1; break; fi
  sleep 1
done
kill -TERM "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null
if [ $api_ok -eq 1 ]; then
  pass "local API: /v1/search finds the imported page with the token; a wrong token gets 401"
else
  fail "local API in the frozen app"
  show "$TMP/api.out"; show "$TMP/serve.err"
fi

# -- 5. GUI under Xvfb ----------------------------------------------------------------------------
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
