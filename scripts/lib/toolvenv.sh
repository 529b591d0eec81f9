# Pinned tool environments under build/venvs, created once and reused (sourced, not run).
#   toolvenv NAME PACKAGE==VERSION ...   -> prints the venv's bin directory
toolvenv() {
  local name=$1; shift
  local venv=$ROOT/build/venvs/$name
  local want
  want=$(printf '%s\n' "$@" | sha256sum | cut -d' ' -f1)
  if [ ! -f "$venv/.arcguard-stamp" ] || [ "$(cat "$venv/.arcguard-stamp")" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "$@" >"$venv.log" 2>&1 || { cat "$venv.log" >&2; return 1; }
    echo "$want" > "$venv/.arcguard-stamp"
  fi
  echo "$venv/bin"
}
