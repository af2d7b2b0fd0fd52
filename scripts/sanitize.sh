#!/usr/bin/env bash
# Builds the parser's C fast path with AddressSanitizer + UndefinedBehaviorSanitizer into a copy
# of the package under build/sanitize, then runs the parse tests (the Hypothesis property at the
# fuzz profile included) against that build. Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
CC=${CC:-gcc}
OUT=build/sanitize
rm -rf "$OUT" && mkdir -p "$OUT"
cp -r cloudinsights_dagster "$OUT/"
find "$OUT" -name '_fastparse*.so' -delete
INCLUDE=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])")
SUFFIX=$($PY -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
"$CC" -shared -fPIC -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=all -I"$INCLUDE" cloudinsights_dagster/flowlogs/_fastparse.c \
  -o "$OUT/cloudinsights_dagster/flowlogs/_fastparse$SUFFIX"
# Python itself is not built with ASan: the runtime must be loaded first. Python's own allocations
# are not ours to judge, so leak detection is off; memory errors and UB in the extension are on.
PRELOAD="$("$CC" -print-file-name=libasan.so) $("$CC" -print-file-name=libubsan.so)"
export PYTHONPATH="$PWD/$OUT" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-fuzz}
ROOT=$PWD
cd "$OUT"  # not the checkout: its own package would shadow the sanitized copy
LD_PRELOAD="$PRELOAD" "$ROOT/$PY" -c "
from cloudinsights_dagster.flowlogs import _fastparse
assert '$OUT' in _fastparse.__file__, _fastparse.__file__
print('sanitized build:', _fastparse.__file__)"
LD_PRELOAD="$PRELOAD" "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider -n 0 --rootdir "$ROOT" \
  "$ROOT/tests/unit/test_flowlog_fastparse.py" "$ROOT/tests/unit/test_flowlog_parse.py"
