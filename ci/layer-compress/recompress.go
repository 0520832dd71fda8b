// recompress: the release step between `docker buildx build` and the push. It takes the OCI image
// layout buildx wrote with compression=uncompressed (the layers the Dockerfile adds are plain
// tars; the base's layers keep the gzip blobs they were pulled as), compresses every plain tar
// layer with the reference zstd library (libzstd 1.5.7, vendored by github.com/DataDog/zstd and
// pinned by go.sum, so the same input gives the same bytes on every machine) at a fixed level,
// and rewrites the manifests, the attestation manifests that point at them and the index. Nothing
// else changes: each image config, and so each layer's diff_id (the digest of its uncompressed
// tar), stays byte for byte what BuildKit wrote. A well-kept tool then pushes the layout as it is
// (skopeo copy --all --preserve-digests: docs/image.md).
//
// Why: BuildKit's best zstd (klauspost/compress "best") leaves the executable's layer about 4.5 MB
// larger than libzstd at level 19, which decides the 50 MB target (docs/image.md). Level 19 is
// zstd's best level that keeps an 8 MiB window; the --ultra levels 20-22 need up to 128 MiB to
// decompress, on every node that pulls the image.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/DataDog/zstd"
)

const (
	mediaTypeIndex      = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest   = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeLayerTar   = "application/vnd.oci.image.layer.v1.tar"
	mediaTypeLayerZstd  = "application/vnd.oci.image.layer.v1.tar+zstd"
	mediaTypeInToto     = "application/vnd.in-toto+json"
	annotationRefType   = "vnd.docker.reference.type"
	annotationRefDigest = "vnd.docker.reference.digest"
	refTypeAttestation  = "attestation-manifest"
	maxManifestBytes    = 4 << 20
	maxAttestationBytes = 64 << 20
)

// object is a JSON document whose unknown fields are kept as they are.
type object = map[string]json.RawMessage

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     json.RawMessage   `json:"platform,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
}

type layout struct {
	dir   string
	level int
	// old manifest digest -> new descriptor, so attestation manifests can follow their subject
	moved  map[string]descriptor
	report func(format string, args ...any)
}

func (l *layout) blobPath(digest string) (string, error) {
	algo, hexPart, ok := strings.Cut(digest, ":")
	if !ok || algo != "sha256" || len(hexPart) != 64 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%q is not a sha256 digest", digest)
	}
	return filepath.Join(l.dir, "blobs", "sha256", hexPart), nil
}

// readBlob reads a blob and checks it against its descriptor: a layout whose blobs do not match
// their digests is refused rather than "fixed".
func (l *layout) readBlob(d descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("blob %s is %d bytes, more than the %d this step reads", d.Digest, d.Size, limit)
	}
	path, err := l.blobPath(d.Digest)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != d.Size || digestOf(data) != d.Digest {
		return nil, fmt.Errorf("blob %s does not match its descriptor (size or digest)", d.Digest)
	}
	return data, nil
}

func (l *layout) writeBlob(data []byte) (string, error) {
	digest := digestOf(data)
	path, err := l.blobPath(digest)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return "", err
	}
	return digest, os.Rename(path+".tmp", path)
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// rewriteDescriptors decodes a document's descriptor list under key, maps each, and stores it back.
func rewriteDescriptors(doc object, key string, each func(descriptor) (descriptor, error)) error {
	raw, ok := doc[key]
	if !ok {
		return nil
	}
	var list []descriptor
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	for i, d := range list {
		nd, err := each(d)
		if err != nil {
			return err
		}
		list[i] = nd
	}
	out, err := marshal(list)
	if err != nil {
		return err
	}
	doc[key] = out
	return nil
}

// rewriteDocument reads a manifest or index, lets edit change it, and writes it back under its new
// digest. The descriptor keeps everything but its digest and size.
func (l *layout) rewriteDocument(d descriptor, edit func(object) error) (descriptor, error) {
	data, err := l.readBlob(d, maxManifestBytes)
	if err != nil {
		return d, err
	}
	var doc object
	if err := json.Unmarshal(data, &doc); err != nil {
		return d, fmt.Errorf("%s: %w", d.Digest, err)
	}
	if err := edit(doc); err != nil {
		return d, err
	}
	out, err := marshal(doc)
	if err != nil {
		return d, err
	}
	if bytes.Equal(out, data) {
		return d, nil
	}
	return l.replaceBlob(d, out)
}

// replaceBlob stores data as the new content of d: same descriptor, new digest and size.
func (l *layout) replaceBlob(d descriptor, data []byte) (descriptor, error) {
	nd := d
	var err error
	if nd.Digest, err = l.writeBlob(data); err != nil {
		return d, err
	}
	nd.Size = int64(len(data))
	return nd, nil
}

func (l *layout) compressLayer(d descriptor) (descriptor, error) {
	if d.MediaType != mediaTypeLayerTar {
		return d, nil // the base's gzip layers, and anything already compressed, stay as they are
	}
	tar, err := l.readBlob(d, 4<<30)
	if err != nil {
		return d, err
	}
	compressed, err := zstd.CompressLevel(nil, tar, l.level)
	if err != nil {
		return d, err
	}
	nd, err := l.replaceBlob(d, compressed)
	if err != nil {
		return d, err
	}
	nd.MediaType = mediaTypeLayerZstd
	l.report("layer %s: %d bytes as tar, %d with zstd -%d (%s)\n", d.Digest[:19], d.Size, nd.Size, l.level, nd.Digest[:19])
	return nd, nil
}

// retargetStatement points an in-toto statement's subjects at the recompressed manifests.
func (l *layout) retargetStatement(d descriptor) (descriptor, error) {
	if d.MediaType != mediaTypeInToto {
		return d, nil
	}
	data, err := l.readBlob(d, maxAttestationBytes)
	if err != nil {
		return d, err
	}
	var statement object
	if err := json.Unmarshal(data, &statement); err != nil {
		return d, fmt.Errorf("attestation %s: %w", d.Digest, err)
	}
	var subjects []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	if raw, ok := statement["subject"]; ok {
		if err := json.Unmarshal(raw, &subjects); err != nil {
			return d, fmt.Errorf("attestation %s subject: %w", d.Digest, err)
		}
	}
	changed := false
	for _, s := range subjects {
		if moved, ok := l.moved["sha256:"+s.Digest["sha256"]]; ok {
			s.Digest["sha256"] = strings.TrimPrefix(moved.Digest, "sha256:")
			changed = true
		}
	}
	if !changed {
		return d, nil
	}
	if statement["subject"], err = marshal(subjects); err != nil {
		return d, err
	}
	out, err := marshal(statement)
	if err != nil {
		return d, err
	}
	return l.replaceBlob(d, out)
}

func (l *layout) index(d descriptor) (descriptor, error) {
	return l.rewriteDocument(d, func(doc object) error {
		// Images first, then what points at them.
		if err := rewriteDescriptors(doc, "manifests", func(m descriptor) (descriptor, error) {
			if m.Annotations[annotationRefType] == refTypeAttestation {
				return m, nil
			}
			return l.visit(m)
		}); err != nil {
			return err
		}
		return rewriteDescriptors(doc, "manifests", func(m descriptor) (descriptor, error) {
			if m.Annotations[annotationRefType] != refTypeAttestation {
				return m, nil
			}
			subject, ok := l.moved[m.Annotations[annotationRefDigest]]
			if !ok {
				return m, nil
			}
			nm, err := l.rewriteDocument(m, func(doc object) error { return rewriteDescriptors(doc, "layers", l.retargetStatement) })
			if err != nil {
				return m, err
			}
			annotations := map[string]string{}
			for k, v := range nm.Annotations {
				annotations[k] = v
			}
			annotations[annotationRefDigest] = subject.Digest
			nm.Annotations = annotations
			return nm, nil
		})
	})
}

func (l *layout) visit(d descriptor) (descriptor, error) {
	switch d.MediaType {
	case mediaTypeIndex:
		return l.index(d)
	case mediaTypeManifest:
		nd, err := l.rewriteDocument(d, func(doc object) error { return rewriteDescriptors(doc, "layers", l.compressLayer) })
		if err == nil && nd.Digest != d.Digest {
			l.moved[d.Digest] = nd
		}
		return nd, err
	default:
		return d, fmt.Errorf("%s: media type %q is neither an OCI index nor an OCI manifest: build with oci-mediatypes=true", d.Digest, d.MediaType)
	}
}

// recompress rewrites the layout in dir in place. The blobs it replaced stay in blobs/ unreferenced;
// a copy of the layout (skopeo copy) takes only what index.json references.
func recompress(dir string, level int, report func(string, ...any)) error {
	if level < 1 || level > 19 {
		return fmt.Errorf("level %d: use 1..19 (the --ultra levels need a 128 MiB window on every node that pulls)", level)
	}
	l := &layout{dir: dir, level: level, moved: map[string]descriptor{}, report: report}
	rootPath := filepath.Join(dir, "index.json")
	data, err := os.ReadFile(rootPath)
	if err != nil {
		return fmt.Errorf("%s is not an OCI image layout (no index.json): %w", dir, err)
	}
	var root object
	if err := json.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	if err := rewriteDescriptors(root, "manifests", l.visit); err != nil {
		return err
	}
	out, err := marshal(root)
	if err != nil {
		return err
	}
	if err := os.WriteFile(rootPath+".tmp", out, 0o644); err != nil {
		return err
	}
	return os.Rename(rootPath+".tmp", rootPath)
}
