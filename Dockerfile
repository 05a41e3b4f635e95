# scimbox in one container: build stage with the Rust toolchain, a slim runtime stage with the
# binary alone, run as a non-root user, the database on a volume.
#
#   docker build -t scimbox .
#   docker run -p 8080:8080 -v scimbox-data:/data scimbox            # prints the URL and token once
#   docker run -p 8080:8080 -v scimbox-data:/data scimbox serve --demo

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# make builds jemalloc (the server's allocator); .cargo/config.toml holds its settings.
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
COPY .cargo ./.cargo
# Dependencies first, so editing the source does not rebuild them.
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
# (The manifest names the bench target, so its file must exist for cargo to read it.)
RUN mkdir src benches && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > benches/scimbox.rs \
    && cargo build --release --locked \
    && rm -rf src benches
COPY schema.sql ./
COPY assets ./assets
COPY src ./src
COPY benches ./benches
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
    && strip target/release/scimbox

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin scimbox \
    && mkdir -p /data && chown scimbox:scimbox /data
COPY --from=build /src/target/release/scimbox /usr/local/bin/scimbox
USER scimbox
WORKDIR /data
VOLUME ["/data"]
ENV SCIMBOX_DB=/data/scimbox.db SCIMBOX_LISTEN=0.0.0.0:8080
EXPOSE 8080
# The slim image has no curl: `scimbox health` GETs /healthz on SCIMBOX_LISTEN itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["scimbox", "health"]
# SIGTERM drains in-flight requests and closes the database cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["scimbox"]
CMD ["serve"]
