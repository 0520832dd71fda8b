module ghapp-tokens/ci/layer-compress

go 1.25

// The version BuildKit v0.34.2 builds with (its go.mod), so sizes match what buildx pushes.
require github.com/klauspost/compress v1.20.2
