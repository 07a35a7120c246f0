#!/bin/sh
# install-deps.sh PKG...: install the Debian packages that are missing (as root), or print
# the apt-get line that would and fail. Used by `make deps` and .ci/run.
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all installed"; exit 0; }
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing:$missing" >&2
  echo "deps: run as root: apt-get install -y$missing" >&2
  exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
