# Sourced by scripts/test and .ci/run. Each step's heading carries the
# seconds since the calling script started, so that a slow CI run shows
# which step grew.
step() {
  echo "== $* (at ${SECONDS} s)"
}
