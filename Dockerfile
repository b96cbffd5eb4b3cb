# syntax=docker/dockerfile:1
# The operator image: `docker build -t batchnotify .`
#
# Runtime: distroless cc-debian12, not static-debian12. The binary links glibc
# (and libgcc_s, libm); a static musl build would also need musl-gcc for ring's
# C code and musl's slower allocator, for an image only ~20 MB smaller. The
# builder is Debian 12 too, so the glibc it links against is the one it runs on.
# The image has CA certificates (for AWS) and runs as uid 65532 (nonroot).

# Cargo.toml: rust-version = "1.94.1".
FROM docker.io/library/rust:1.94-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY testbed testbed
COPY src src
# Cache mounts keep the registry and the dependency builds between builds;
# the binary is copied out of the (unpersisted) target folder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin batchnotify \
    && cp target/release/batchnotify /batchnotify \
    && strip /batchnotify

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /batchnotify /usr/local/bin/batchnotify
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/batchnotify"]
CMD ["run"]
