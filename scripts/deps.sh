#!/usr/bin/env bash
# Installs what the tests need and a fresh Debian machine lacks: Chromium for the
# browser tests, PostgreSQL for the tests that run on both engines (store/pgtest
# starts a throwaway cluster from its binaries; the tests fail without them
# unless TREU_PG=off). Everything Go needs comes through the module proxy.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "installing: ${need[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download
