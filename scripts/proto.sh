#!/usr/bin/env bash
# Regenerates the protocols' Go code (sdk/internal/proto, and
# core/cluster/internal/peerpb) from the .proto files beside it. Idempotent:
# running it twice leaves the tree as it was. The generators are pinned here and nowhere else; protoc comes from
# Debian (apt-get install -y protobuf-compiler, which brings the well-known
# types under /usr/include) and its version is written into the generated
# headers, so regenerate with the same protoc to keep the diff empty.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12      # keep equal to google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v protoc >/dev/null; then
	echo "proto.sh: protoc not found; apt-get install -y protobuf-compiler" >&2
	exit 1
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# go install pkg@version ignores the module's go.mod, so the pins above are
# the only thing that decides the generators' versions.
GOBIN=$bin go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
GOBIN=$bin go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"

# The plugin protocol (sdk) and the node-to-node protocol (core/cluster).
for dir in sdk/internal/proto core/cluster/internal/peerpb; do
	(
		cd "$root/$dir"
		rm -f ./*.pb.go
		# require_unimplemented_servers=false: the servers embed a shared
		# base server (sdk) or implement every method (cluster), which the
		# Unimplemented* structs would make ambiguous or hide; both ends are
		# generated from the same files, and interface guards catch a
		# missing method at compile time.
		PATH="$bin:$PATH" protoc \
			-I . \
			--go_out=. --go_opt=paths=source_relative \
			--go-grpc_out=. --go-grpc_opt=paths=source_relative,require_unimplemented_servers=false \
			./*.proto
	)
done
