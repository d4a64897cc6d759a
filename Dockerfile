# Keyport in a small runtime image, run as an unprivileged user.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
COPY migrations migrations
COPY static static
RUN cargo build --release --locked --bin keyport

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/keyport --create-home keyport
COPY --from=build /src/target/release/keyport /usr/local/bin/keyport
USER 10001:10001
WORKDIR /var/lib/keyport
# The master key is never part of the image: give it at run time (a secret file or KEYPORT_MASTER_KEY).
ENV KEYPORT_LISTEN=0.0.0.0:8080 \
    KEYPORT_DATABASE_URL=sqlite:///var/lib/keyport/keyport.db \
    KEYPORT_MASTER_KEY_FILE=/var/lib/keyport/master.key
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["keyport", "healthcheck"]
ENTRYPOINT ["keyport"]
CMD ["serve"]
