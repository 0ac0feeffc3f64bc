# Multi-stage build: compile on Debian 12 with the -dev packages, run on a
# slim image with only the shared libraries.
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config meson ninja-build \
        python3 libmicrohttpd-dev libpq-dev libjansson-dev libcurl4-openssl-dev gettext \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The message catalogs (po/*.po, compiled by msgfmt) go where the binary
# looks for them when installed: /usr/local/share/locale.
RUN meson setup /build -Dbuildtype=release --werror \
 && meson compile -C /build \
 && strip /build/tgdesk \
 && meson install -C /build --tags i18n --destdir /stage

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libpq5 libjansson4 libcurl4 \
        ca-certificates curl postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent tgdesk
COPY --from=build /build/tgdesk /usr/local/bin/tgdesk
COPY --from=build /stage/usr/local/share/locale /usr/local/share/locale
USER tgdesk
EXPOSE 8080
# Readiness: one GET of the local /health (database reachable, queue not full).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["tgdesk", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tgdesk"]
CMD ["serve"]
