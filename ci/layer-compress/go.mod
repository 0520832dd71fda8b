module ghapp-tokens/ci/layer-compress

go 1.25

require (
	// The reference zstd library (libzstd 1.5.7, vendored C source): what the release pushes.
	github.com/DataDog/zstd v1.5.7
	// The version BuildKit v0.34.2 builds with (its go.mod), so sizes match what buildx pushes.
	github.com/klauspost/compress v1.20.2
)
