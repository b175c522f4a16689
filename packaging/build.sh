#!/usr/bin/env bash
# Build dist/Footnote with the project's venv and report build time, size and the largest parts.
#   packaging/build.sh            (what `make package` does, plus the report)
#   packaging/build.sh --check    (then runs packaging/ci_check.sh on the result)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
start=$(date +%s)
"$BIN/pyinstaller" --noconfirm --clean packaging/footnote.spec
echo "# build time: $(( $(date +%s) - start )) s"
echo "# bundle: $(du -sh dist/Footnote | cut -f1) in dist/Footnote ($(find dist/Footnote -type f | wc -l) files)"
echo "# largest parts:"
(cd dist/Footnote/_internal && du -s --block-size=1M * | sort -rn | head -12 | awk '{printf "  %5d MB  %s\n", $1, $2}')
if [ "${1:-}" = "--check" ]; then
  packaging/ci_check.sh
fi
