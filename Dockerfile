# flexsettle's container image: the release binary on distroless (glibc, no shell), as a fixed
# non-root user (65532, "nonroot").
#
# UNTESTED: no container engine runs on the machine this was written on, so this file has never
# been built here (it was only linted). Build it with:
#
#   docker build -t flexsettle:0.1.0 .
#
# Run it for a trial (plain text and the development key are refused off loopback unless asked
# for, so both are asked for explicitly; never do this in production):
#
#   docker run --rm --name flexsettle -p 50051:50051 -p 8081:8081 \
#       -e FLEXSETTLE_TLS__ALLOW_PLAINTEXT=true -e FLEXSETTLE_AUTH__ALLOW_DEV_KEY=true flexsettle:0.1.0
#   docker exec flexsettle flexsettle token --role admin
#
# Port 50051 is the API; port 8081 (`health_listen_addr`) serves only the standard gRPC health
# service, always in plain text (even with TLS on the API), for probes that cannot speak TLS:
#
#   grpcurl -plaintext -d '{"service": "flexsettle.Liveness"}' localhost:8081 grpc.health.v1.Health/Check
#
# In production (the helm chart in helm/flexsettle) the settings come from a mounted file
# (`--config`), TLS and token keys from Secrets, and the database URL from FLEXSETTLE_DATABASE_URL.

ARG RUST_VERSION=1.95

# --- Build ----------------------------------------------------------------------------------
# Needs only the Rust toolchain and a C compiler (with make and perl, which the image has):
# libpq, OpenSSL and SQLite are built from source, and build.rs compiles the protobuf files with
# protox (no protoc).
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build

# The dependencies, in a layer of their own that only a change of the manifests, build.rs or
# the .proto files rebuilds: the crate's own sources are stubs here.
COPY Cargo.toml Cargo.lock build.rs ./
# How the bundled SQLite is compiled (see the file).
COPY .cargo ./.cargo
COPY proto ./proto
# Cargo.toml names the benchmarks: their files must exist for the manifest to load.
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && : > src/lib.rs \
    && cargo build --release --locked --bin flexsettle \
    && rm -rf src

# The service itself. The copied sources may be older than the stubs' build: touch them so
# cargo rebuilds the crate.
COPY src ./src
COPY migrations ./migrations
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin flexsettle \
    && mkdir -p /out/data \
    && cp target/release/flexsettle /out/flexsettle

# The image's default settings (see the run stage). Written here because the run stage has no
# shell; printf rather than a heredoc keeps the file buildable by builders without BuildKit.
RUN printf '%s\n' \
        '# flexsettle image defaults: --config FILE or FLEXSETTLE_* variables override them.' \
        'listen_addr = "0.0.0.0:50051"' \
        'health_listen_addr = "0.0.0.0:8081"' \
        'data_dir = "/var/lib/flexsettle"' \
        'database_url = "/var/lib/flexsettle/flexsettle.db"' \
        > /out/flexsettle.toml

# --- Run ------------------------------------------------------------------------------------
# cc: glibc and libgcc_s, all the binary links dynamically (OpenSSL, libpq, SQLite are inside).
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /out/flexsettle /usr/local/bin/flexsettle
# data_dir: the only folder the service may write (the SQLite file of a trial, and the
# development keys when none are configured). Kubernetes mounts an emptyDir over it.
COPY --from=builder --chown=65532:65532 /out/data /var/lib/flexsettle

# The image's default settings. The service listens on every address here, and it refuses to
# serve plain text there unless TLS is configured (tls.cert_file/tls.key_file) or plain text is
# asked for (FLEXSETTLE_TLS__ALLOW_PLAINTEXT=true, behind a TLS-terminating proxy); likewise it
# refuses to start without token keys (auth.jwks_file/auth.public_key_files) unless
# FLEXSETTLE_AUTH__ALLOW_DEV_KEY=true. So a bare `docker run` stops with a message saying what
# to configure instead of serving unprotected. A second listener, health_listen_addr
# (0.0.0.0:8081), serves nothing but grpc.health.v1.Health, in plain text whatever the TLS
# settings: service "" is NOT_SERVING while the database cannot be reached, service
# "flexsettle.Liveness" is SERVING as long as the process serves. `--config FILE` (as the helm
# chart passes, with its own health_listen_addr) or FLEXSETTLE_* variables override these;
# unknown keys are refused.
COPY --from=builder /out/flexsettle.toml /etc/flexsettle/flexsettle.toml
ENV FLEXSETTLE_CONFIG=/etc/flexsettle/flexsettle.toml

USER 65532:65532
WORKDIR /var/lib/flexsettle
# The gRPC API, and the plain-text health listener.
EXPOSE 50051 8081
# No HEALTHCHECK: the image has no shell or probe tool. Kubernetes probes the standard gRPC
# health service (grpc.health.v1.Health) on port 8081 itself.
ENTRYPOINT ["/usr/local/bin/flexsettle"]
CMD ["serve"]
