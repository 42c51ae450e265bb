#!/usr/bin/env bash
# Prints the path of grpcurl, building it once with Go (`go install`, from the Go module proxy)
# into a cache: grpcurl is no Debian package. Used by the docs test; run it by hand the same way.
#   client/python/tests/grpcurl.sh      -> ~/.cache/tomstream/go-bin/grpcurl-v1.9.4/grpcurl
# Progress and errors go to stderr. Environment: TOMSTREAM_CACHE (default ~/.cache/tomstream).
set -euo pipefail
readonly VERSION=v1.9.4
readonly CACHE=${TOMSTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tomstream}
readonly BIN_DIR=$CACHE/go-bin/grpcurl-$VERSION

die() { echo "grpcurl.sh: $*" >&2; exit 1; }

if [[ ! -x $BIN_DIR/grpcurl ]]; then
  command -v go >/dev/null || die "go not found; it is needed once to build grpcurl $VERSION"
  mkdir -p "$CACHE/go-bin"
  # Several builds may need it at once: one builds, the others wait and reuse it.
  exec 9>"$CACHE/go-bin/.lock"
  flock -w 900 9 || die "timed out waiting for $CACHE/go-bin/.lock"
  if [[ ! -x $BIN_DIR/grpcurl ]]; then
    echo "grpcurl.sh: building grpcurl $VERSION into $BIN_DIR (once)" >&2
    tmp=$BIN_DIR.tmp.$$
    rm -rf "$tmp"
    # A Go tree of our own under the cache (not ~/go), the installed toolchain only, writable
    # module files (so the cache can simply be deleted), and a static binary.
    GOBIN=$tmp GOPATH=$CACHE/go GOCACHE=$CACHE/go/build-cache GOTOOLCHAIN=local \
      GOFLAGS=-modcacherw CGO_ENABLED=0 \
      go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$VERSION" >&2 ||
      { rm -rf "$tmp"; die "go install grpcurl@$VERSION failed"; }
    rm -rf "$BIN_DIR"
    mv "$tmp" "$BIN_DIR"
  fi
  exec 9>&-
fi
echo "$BIN_DIR/grpcurl"
