#!/usr/bin/env bash
# make dist: release binaries, an SBOM of each, and their SHA256SUMS, in
# dist/.
#
# A plain `go build` per target rather than GoReleaser: five static
# binaries need nothing it adds, and every tool here comes through the Go
# module proxy pinned (CI has no network but the package registries).
# Each binary's SBOM is CycloneDX JSON by cyclonedx-gomod (pinned) in
# "bin" mode: the modules the binary links, read from its build
# information (so test-only modules, and tools of the repository such as
# the sandbox's, are not in it; cobra's mousetrap is, on Windows only),
# with the binary's hashes and build settings. Without serial number or
# timestamp, it is as reproducible as the binary it describes.
#
#   VERSION   stamped into the binaries (default: git describe, or dev)
#   COMMIT    stamped commit (default: git rev-parse HEAD)
#   TARGETS   GOOS/GOARCH list (default: the five release targets)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
CYCLONEDX=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
TARGETS=${TARGETS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"}
OUT=dist

rm -rf "$OUT"
mkdir -p "$OUT"
# cyclonedx-gomod, built once for this machine.
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
GOBIN=$tools GOOS=$("$GO" env GOHOSTOS) GOARCH=$("$GO" env GOHOSTARCH) "$GO" install "$CYCLONEDX"
ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT"
sboms=()
for target in $TARGETS; do
  os=${target%/*} arch=${target#*/}
  bin="$OUT/protorun_${VERSION}_${os}_${arch}"
  [ "$os" = windows ] && bin="$bin.exe"
  echo "dist: $bin"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$bin" ./cmd/protorun
  # Static, and stamped: the binary's build information says so.
  info=$("$GO" version -m "$bin")
  grep -q 'CGO_ENABLED=0' <<<"$info" || { echo "dist: $bin is not static" >&2; exit 1; }
  grep -q -a -F "$COMMIT" "$bin" || { echo "dist: $bin lacks its commit" >&2; exit 1; }
  # Its SBOM, made while the next target builds.
  sbom="${bin%.exe}.cdx.json"
  echo "dist: $sbom (CycloneDX SBOM)"
  "$tools/cyclonedx-gomod" bin -json -short-purls -noserial -notimestamp -version "$VERSION" -output "$sbom" "$bin" &
  sboms+=($!)
done
for pid in "${sboms[@]}"; do
  wait "$pid" || { echo "dist: an SBOM could not be made" >&2; exit 1; }
done

# The binary for this machine, if built, says its version and commit.
host="$OUT/protorun_${VERSION}_$("$GO" env GOOS)_$("$GO" env GOARCH)"
if [ -x "$host" ]; then
  "$host" version
  "$host" version -o json | grep -q -F "\"version\":\"$VERSION\",\"commit\":\"$COMMIT\"" ||
    { echo "dist: $host does not say version $VERSION, commit $COMMIT" >&2; exit 1; }
fi

(
  cd "$OUT"
  if command -v sha256sum >/dev/null; then sum="sha256sum"; else sum="shasum -a 256"; fi
  $sum protorun_* > SHA256SUMS
)
echo "dist: $OUT/SHA256SUMS"
cat "$OUT/SHA256SUMS"
