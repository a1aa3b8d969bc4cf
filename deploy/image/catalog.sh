#!/bin/bash
# Writes the plugin catalog of an image build context: each connector
# plugin's kind, its path in the image and the SHA-256 of the binary being
# shipped, as Ferry's config wants them (plugins[]). Generated from the
# binaries at build time, so the catalog cannot drift from what the image
# holds. Usage: catalog.sh CONTEXT_DIR KIND...
set -euo pipefail
dir=$1
shift
sep=
printf '[' >"$dir/plugins.json"
for kind in "$@"; do
	sum=$(sha256sum "$dir/ferry-connector-$kind" | cut -d' ' -f1)
	printf '%s\n  {"kind": "%s", "path": "/usr/bin/ferry-connector-%s", "sha256": "%s", "sandbox": "required"}' \
		"$sep" "$kind" "$kind" "$sum" >>"$dir/plugins.json"
	sep=,
done
printf '\n]\n' >>"$dir/plugins.json"
