# Output helpers for scripts/bootstrap.sh (sourced): one line per step on the terminal, the
# full output of each step's command appended to $setup_log, and the end of that log only
# when a step fails (then the script exits with the step's status).

log() { printf '[bootstrap] %s\n' "$*" >&2; }

# step "what it does" command...: one line on the terminal, the command's output in the log
step() {
  local what="$1"; shift
  printf '[bootstrap] %s ... ' "$what" >&2
  printf '\n--- %s\n$ %s\n' "$what" "$*" >>"$setup_log"
  local rc=0
  "$@" >>"$setup_log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf 'ok\n' >&2
    return 0
  fi
  printf 'FAILED (exit %s)\n' "$rc" >&2
  log "last lines of $setup_log:"
  tail -n 30 "$setup_log" | sed 's/^/  | /' >&2
  exit "$rc"
}

# pip_check_report KNOWN_FILE < pip-check-output: writes the output and the explanations of
# the expected lines to the log; prints the lines that no pattern of KNOWN_FILE explains
pip_check_report() {
  local known="$1" out
  out="$(cat)"
  {
    printf '\n--- pip check\n%s\n' "$out"
    printf 'expected differences (%s: pattern, then why):\n' "${known#"$here"/}"
    grep -v '^#' "$known" | sed 's/^/  /'
  } >>"$setup_log"
  printf '%s\n' "$out" | grep -v -E -f <(grep -v '^#' "$known" | cut -f1) \
    | grep -v -E '^(No broken requirements found\.)?$' || true
}
