#!/usr/bin/env bash
# Re-fetch the vendored Apache ECharts from the npm registry and check it against the
# pinned sha256 (simba/report/vendor/README.md says why ECharts and which version).
# Usage: bash simba/report/vendor/refetch.sh [VERSION SHA256]   (needs npm and tar)
# With a new VERSION, pass its SHA256 after checking the release, then update
# VERSION and SHA256 in simba/report/page.py and the README beside this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${1:-6.1.0}"
sha256="${2:-b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "echarts@$version" >/dev/null)
tar -xzf "$work/echarts-$version.tgz" -C "$work" package/dist/echarts.min.js package/LICENSE package/NOTICE
echo "$sha256  $work/package/dist/echarts.min.js" | sha256sum --check --quiet
cp "$work/package/dist/echarts.min.js" "$here/echarts.min.js"
cp "$work/package/LICENSE" "$here/echarts.LICENSE"
cp "$work/package/NOTICE" "$here/echarts.NOTICE"
echo "echarts $version vendored in $here"
