# ghapp-token's container image: the compiled generator on distroless, run as UID/GID 65532, with
# no shell and nothing writable but the token folder the pod mounts. docs/image.md explains the
# choices and has the figures; tests/container proves what this file assumes, without Docker.
#
# Multi-platform, from one builder (Bun cross-compiles, so nothing runs under emulation). The
# release builds an OCI layout with the Dockerfile's own layers uncompressed, compresses them with
# libzstd -19 (ci/layer-compress recompress) and pushes the layout by digest with skopeo:
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=0.1.0 \
#     --output type=oci,dest=image,tar=false,oci-mediatypes=true,compression=uncompressed .
#   ci/layer-compress recompress -level 19 image   # then: skopeo copy --all --preserve-digests ...
#
# That is what keeps the image under 50 MB (45.6 MB for amd64); pushed by buildx alone it is 50.3 MB
# with compression=zstd,compression-level=19 and 57.8 MB with gzip. Nodes need containerd >= 1.5 (or
# Docker >= 23) to pull zstd layers. docs/image.md has the figures; `npm run image:size` prints them.
#
# Stages (the last one ships as ghapp-token; ghapp-runner-broker is a second target):
#   glibc  distroless base-nossl for the target platform, never run: the source of glibc's files
#   build  Bun on the build platform: the locked dependencies, then ci/build.ts, the script
#          `npm run build` runs, for the target platform; then ci/image-rootfs.ts copies out of
#          base-nossl the glibc files the executable's ELF header names, and glibc's package record
#   final  distroless static + those glibc files + the executable
#   broker-rootfs, ghapp-runner-broker   the same for the runner broker (--target ghapp-runner-broker)
#
# Both distroless digests are multi-platform indexes. Refresh them together, from the same
# distroless build, so that base-nossl's glibc matches static's directory layout:
#   crane digest gcr.io/distroless/static-debian12:nonroot
#   crane digest gcr.io/distroless/base-nossl-debian12:nonroot

# The `gh` target: the GitHub CLI for the chart's test-github-app template (and any step that wants
# `gh`), Debian's own gh package on Debian's slim image, as UID/GID 65532. Not part of the default
# build (the last stage is): `docker buildx build --target gh .`; the release workflow publishes it as
# <image>-gh:<version>, which the chart runs by default (workflowTemplates.testGithubApp.image).
# The digest is the multi-platform index of debian:trixie-slim as pinned in public Dockerfiles; it could
# not be checked against the registry where this was written: confirm it with
# `crane digest debian:trixie-slim` before the first release, and refresh it with each Debian point release.
FROM debian:trixie-slim@sha256:a29215f6a35e51e22adffa17f89e9d2ef06214e64a2bad10d765c46aea49f11f AS gh
# Not version-pinned: Debian keeps one gh per release in its archive and replaces it with security
# fixes under the same name, so a pinned version would stop building; the base's digest pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gh \
 && rm -rf /var/lib/apt/lists/*
USER 65532:65532

# For the target platform, as every FROM without --platform: its glibc is the one that ships.
FROM gcr.io/distroless/base-nossl-debian12:nonroot@sha256:be40c00dfabd86576d92666e87e406714d5618342de1a0c213ad232de255172e AS glibc

# NOT pinned by digest yet: no digest of oven/bun:1.4.5 could be confirmed where this file was
# written (no registry access; none published in sources that could be checked). Pin it before the
# first release with `crane digest oven/bun:1.4.5` and append @sha256:<digest>. The tag must stay
# package.json's devDependencies.bun: ci/build.ts refuses to build with any other Bun, because the
# executable embeds the Bun that builds it.
FROM --platform=$BUILDPLATFORM oven/bun:1.4.5 AS build
WORKDIR /src
# The locked production dependencies only: the build bundles them, and the compiler is this
# image's Bun. Bun reads package-lock.json; --frozen-lockfile fails if it disagrees with package.json.
COPY package.json package-lock.json bunfig.toml ./
RUN bun install --frozen-lockfile --production --ignore-scripts
COPY tsconfig.json ./
COPY generator/ generator/
COPY ci/build.ts ci/bundle-plugins.ts ci/elf.ts ci/image-rootfs.ts ci/
COPY ci/bytecode-order/ ci/bytecode-order/
# The release's version is package.json's (the executable reports it); the tag must agree.
ARG VERSION=development
RUN pkg_version=$(bun -e 'console.log(require("./package.json").version)') \
 && if [ "$VERSION" != development ] && [ "$VERSION" != "$pkg_version" ]; then \
      echo "VERSION=$VERSION but package.json says $pkg_version: tag the release from package.json" >&2; exit 1; \
    fi
ARG TARGETPLATFORM
RUN bun run ci/build.ts --platform "$TARGETPLATFORM" --outfile /out/ghapp-token
RUN --mount=type=bind,from=glibc,target=/glibc \
    bun ci/image-rootfs.ts --executable /out/ghapp-token --from /glibc --to /out/rootfs --package-record libc6

# ---------------------------------------------------------------------------------------------
# The runner broker's image (docs/runner-broker.md), the same release and the same bases: build it
# with --target ghapp-runner-broker. ci/build.ts already compiled /out/ghapp-runner-broker beside
# ghapp-token in the build stage; this stage only copies out the glibc files that executable names.
# It stands before the generator's final stage so that a build without --target still makes
# ghapp-token. tests/container/broker-image.test.ts runs this root filesystem as the chart runs it.
FROM build AS broker-rootfs
RUN --mount=type=bind,from=glibc,target=/glibc \
    bun ci/image-rootfs.ts --executable /out/ghapp-runner-broker --from /glibc --to /out/broker-rootfs --package-record libc6

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab AS ghapp-runner-broker
ARG VERSION=development
LABEL org.opencontainers.image.title="ghapp-runner-broker" \
      org.opencontainers.image.description="Hands out single-use GitHub Actions runner registrations to OIDC-authenticated callers" \
      org.opencontainers.image.source="https://github.com/ghapp-tokens/ghapp-tokens" \
      org.opencontainers.image.url="https://github.com/ghapp-tokens/ghapp-tokens" \
      org.opencontainers.image.documentation="https://github.com/ghapp-tokens/ghapp-tokens/blob/main/docs/runner-broker.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=broker-rootfs /out/broker-rootfs/ /
COPY --from=build --chmod=0755 /out/ghapp-runner-broker /ghapp-runner-broker
# A long-running service keeps JavaScriptCore's JIT (no BUN_JSC_useJIT=0 as for the short-lived
# ghapp-token): it serves requests for days, where compiled code pays back; ci/build.ts gives the
# broker no reluctant JIT policy either, so the image runs what tests/broker measures. Writable state lives only on the volume the
# chart mounts at /var/lib/runner-broker (SQLite); the root stays read-only.
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/ghapp-runner-broker"]
CMD ["serve"]

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG VERSION=development
LABEL org.opencontainers.image.title="ghapp-token" \
      org.opencontainers.image.description="Mints GitHub App installation tokens into a file for Kubernetes workloads" \
      org.opencontainers.image.source="https://github.com/ghapp-tokens/ghapp-tokens" \
      org.opencontainers.image.url="https://github.com/ghapp-tokens/ghapp-tokens" \
      org.opencontainers.image.documentation="https://github.com/ghapp-tokens/ghapp-tokens/blob/main/docs/image.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# glibc's loader and the libraries it loads, at base-nossl's paths, owned by root.
COPY --from=build /out/rootfs/ /
COPY --from=build --chmod=0755 /out/ghapp-token /ghapp-token
# JavaScriptCore's interpreter only: faster mints, a smaller sidecar, no writable and executable
# memory (ci/image-rootfs.ts, IMAGE.ownEnv, says why and what proves it).
ENV BUN_JSC_useJIT=0
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/ghapp-token"]
