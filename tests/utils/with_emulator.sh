#!/usr/bin/env bash
# Run a command with the Graph emulator up, and always stop it afterwards.
# Usage: tests/utils/with_emulator.sh STATE_DIR PYTHON -- COMMAND [ARGS...]
# The command sees O365_EMULATOR_INFO (path of the emulator's JSON info file).
set -euo pipefail

state_dir=$1
python=$2
shift 3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run_py="$here/tests/emulator/run.py"

stop_emulator() {
    "$python" "$run_py" stop --state-dir "$state_dir" >/dev/null 2>&1 || true
}
trap stop_emulator EXIT

mkdir -p "$state_dir"
"$python" "$run_py" start --background --state-dir "$state_dir" >/dev/null
export O365_EMULATOR_INFO="$state_dir/emulator.json"
"$@"
