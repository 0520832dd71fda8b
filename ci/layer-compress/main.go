// layer-compress reads an image layer (an uncompressed tar) on stdin and prints how many bytes
// it takes once compressed the way BuildKit compresses layers when buildx pushes an image, so
// ci/image-size.sh measures what the registry will store rather than what a command-line
// compressor would produce. The difference matters: zstd -19 on the command line is about 10%
// smaller than BuildKit's best zstd, which is klauspost/compress's "best" encoder.
//
// Usage: layer-compress [-c gzip,zstd:3,zstd:19,libzstd:19] < layer.tar
// Prints "uncompressed N" then one "<compression> N" line per requested compression, in bytes.
// libzstd:LEVEL is the reference zstd library, as the release's recompress step uses it:
//
//	layer-compress recompress [-level 19] OCI_LAYOUT_DIR   (recompress.go)
//
// Mirrors github.com/moby/buildkit/util/compression (v0.34.2):
//   - gzip: compress/gzip at gzip.DefaultCompression unless a level is given (gzip.go)
//   - zstd: klauspost zstd.NewWriter with zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level))
//     when compression-level is set, the library default otherwise (zstd.go). EncoderLevelFromZstd
//     folds 0-22 into four encoders: <3 fastest, 3-5 default, 6-9 better, >=10 best.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/DataDog/zstd"
	kzstd "github.com/klauspost/compress/zstd"
)

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func compressed(layer []byte, spec string) (int64, error) {
	name, levelText, hasLevel := strings.Cut(spec, ":")
	level := 0
	if hasLevel {
		var err error
		if level, err = strconv.Atoi(levelText); err != nil {
			return 0, fmt.Errorf("%q: the level is not a number", spec)
		}
	}
	out := &counter{}
	var w io.WriteCloser
	var err error
	switch name {
	case "gzip":
		if !hasLevel {
			level = gzip.DefaultCompression
		}
		w, err = gzip.NewWriterLevel(out, level)
	case "libzstd":
		// What the release pushes (recompress.go): the reference library, one frame.
		compressedBytes, err := zstd.CompressLevel(nil, layer, level)
		if err != nil {
			return 0, err
		}
		return int64(len(compressedBytes)), nil
	case "zstd":
		var opts []kzstd.EOption
		if hasLevel {
			opts = append(opts, kzstd.WithEncoderLevel(kzstd.EncoderLevelFromZstd(level)))
		}
		w, err = kzstd.NewWriter(out, opts...)
	default:
		return 0, fmt.Errorf("%q: expected gzip[:LEVEL], zstd[:LEVEL] or libzstd:LEVEL", spec)
	}
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(w, bytes.NewReader(layer)); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return out.n, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "recompress" {
		fs := flag.NewFlagSet("recompress", flag.ExitOnError)
		level := fs.Int("level", 19, "zstd level (1..19)")
		_ = fs.Parse(os.Args[2:])
		if fs.NArg() != 1 {
			fmt.Fprintln(os.Stderr, "usage: layer-compress recompress [-level 19] OCI_LAYOUT_DIR")
			os.Exit(2)
		}
		if err := recompress(fs.Arg(0), *level, func(f string, a ...any) { fmt.Printf(f, a...) }); err != nil {
			fmt.Fprintln(os.Stderr, "layer-compress recompress:", err)
			os.Exit(2)
		}
		return
	}
	specs := flag.String("c", "gzip,zstd:19", "comma-separated compressions: gzip[:LEVEL], zstd[:LEVEL]")
	flag.Parse()
	layer, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "layer-compress: reading the layer:", err)
		os.Exit(1)
	}
	fmt.Printf("uncompressed %d\n", len(layer))
	for _, spec := range strings.Split(*specs, ",") {
		n, err := compressed(layer, spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "layer-compress:", err)
			os.Exit(2)
		}
		fmt.Printf("%s %d\n", spec, n)
	}
}
