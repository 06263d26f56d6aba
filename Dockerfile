# syntax=docker/dockerfile:1
# The snapstage controller image.
#
#   docker build -t snapstage:0.1.0 .
#
# Two stages: Debian 12 with the build tools compiles the binary with CMake
# (Release, no tests), and a debian:12-slim runtime holds only the shared
# libraries the binary links, CA certificates and time zones, and runs it as
# the unprivileged uid 65532. hack/image-check.sh checks the runtime stage
# without a container engine (it reads the package list below from this
# file, so keep the `apt-get install` of the runtime stage in this form).

FROM debian:12 AS build
# The build packages of hack/deps.sh that the binary needs (not the test
# ones). libmariadb-dev is there for the coming MariaDB lock session.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev \
      libwebsockets-dev libmariadb-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DSNAPSTAGE_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && /build/controller/snapstage --version

FROM debian:12-slim
# Exactly the libraries `ldd snapstage` resolves, by Debian package (plus
# what they pull in): libcurl4 (libcurl.so.4), libjansson4, libyaml-0-2,
# libssl3 (libcrypto.so.3), libwebsockets17; ca-certificates for API servers
# with publicly signed certificates; tzdata for time zones. libmariadb3
# (libmariadb.so.3, MariaDB Connector/C) is for the app layer's lock session
# (controller/app/db/db.c): the binary links it once main.c uses the app
# layer; until then it is installed but unused.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libjansson4 libyaml-0-2 libssl3 libwebsockets17 libmariadb3 \
      ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/controller/snapstage /usr/local/bin/snapstage
# Numeric, so Kubernetes can verify runAsNonRoot without an /etc/passwd entry.
USER 65532:65532
# 8080: /metrics, 8081: /healthz and /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/snapstage"]
