# shellcheck shell=bash
# tools/meridian fuzz: the libFuzzer targets of tests/fuzz, built with clang
# (coverage + ASan + UBSan) into build-fuzz and run for a while each.

FUZZ_BUILD_DIR="$ROOT/build-fuzz"

# fuzz_targets: the target names, from tests/fuzz/CMakeLists.txt.
fuzz_targets() {
  sed -n 's/^meridian_fuzz_target(\([a-z_]*\).*/\1/p' "$ROOT/tests/fuzz/CMakeLists.txt"
}

# fuzz_build: build-fuzz, configured with clang 14 and
# MERIDIAN_SANITIZE=fuzzer on first use; only the fuzz targets (and what
# they link) are built.
fuzz_build() {
  have clang++-14 || die "clang++-14 not found: run tools/meridian deps"
  (
    SANITIZE=fuzzer BUILD_DIR="$FUZZ_BUILD_DIR"
    export CC=clang-14 CXX=clang++-14
    cmd_build fuzz_targets
  )
}

# cmd_fuzz [--seconds=N] [TARGET...]: build, then fuzz each target (all by
# default) for N seconds (300), starting from its seed corpus and the corpus
# grown by earlier runs ($CACHE/fuzz/TARGET, outside the clone). A crash,
# leak, timeout (10 s per input) or broken property stops that target, keeps
# the input in .local/fuzz/TARGET/ and makes the command fail; copy a kept
# input into tests/fuzz/corpus/TARGET once fixed, so ctest replays it.
cmd_fuzz() {
  local seconds=300 t arg rc=0 failed=()
  local -a targets=()
  for arg in "$@"; do
    case $arg in
      --seconds=*) seconds=${arg#--seconds=} ;;
      -*) die "fuzz: unknown option $arg" ;;
      *) targets+=("$arg") ;;
    esac
  done
  [[ $seconds =~ ^[0-9]+$ ]] || die "fuzz: --seconds takes a whole number"
  ((${#targets[@]})) || mapfile -t targets < <(fuzz_targets)
  fuzz_build
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  for t in "${targets[@]}"; do
    [[ -x $FUZZ_BUILD_DIR/tests/fuzz/$t ]] || die "fuzz: no target $t"
    mkdir -p "$CACHE/fuzz/$t" "$STATE/fuzz/$t"
    log "fuzz: $t for ${seconds}s"
    if ! "$FUZZ_BUILD_DIR/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$STATE/fuzz/$t/" "$CACHE/fuzz/$t" "$ROOT/tests/fuzz/corpus/$t" \
      >"$STATE/fuzz/$t.log" 2>&1; then
      rc=1
      failed+=("$t")
      tail -n 40 "$STATE/fuzz/$t.log" >&2
    fi
    { grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' \
      "$STATE/fuzz/$t.log" || true; } | tr '\n' ' ' | sed "s/^/meridian: fuzz: $t: /;s/\$/\\n/" >&2
  done
  if ((rc)); then
    die "fuzz: findings in ${failed[*]}: inputs kept in $STATE/fuzz/"
  fi
  log "fuzz: ${#targets[@]} targets, ${seconds}s each: no crash, leak, timeout or broken property"
}
