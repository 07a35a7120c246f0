#!/bin/sh
# install-deps.sh PKG...: the Debian packages among PKG that are not installed: as root,
# installs them; otherwise prints the apt-get line that would and fails. Used by `make deps`,
# .ci/run, and by `make check` and `make demo` before they compile anything (the Makefile's
# deps check), so either works as the first command on a fresh machine.
# TF_DEPS_INSTALL=0: never install, only say what is missing (tests/cli/test_usability.sh).
if ! command -v dpkg-query > /dev/null 2>&1; then
  echo "deps: cannot check the packages without dpkg-query (not Debian?); they are:" >&2
  echo "deps:   $*" >&2
  echo "deps: install their equivalents, then skip this check with make DEPS_CHECK=0" >&2
  exit 1
fi
# one dpkg-query for all: a package never installed prints nothing, a removed one has no i for installed
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2> /dev/null |
  awk 'substr($2, 2, 1) == "i" { print $1 }')
missing=""
for p in "$@"; do
  echo "$installed" | grep -qx -- "$p" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all $# packages installed"; exit 0; }
if [ "$(id -u)" != 0 ] || [ "${TF_DEPS_INSTALL:-1}" = 0 ]; then
  echo "deps: missing Debian packages:$missing" >&2
  echo "deps: install them as root, then run make again:" >&2
  echo "deps:   apt-get install -y$missing" >&2
  exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
