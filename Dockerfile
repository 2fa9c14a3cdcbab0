# syntax=docker/dockerfile:1.7
# One image for the four StreamRec services (and the trainer's and loadgen's command lines): built with the
# Swift toolchain image, run on slim Debian with the C client libraries only. Which service runs is the
# container's command (ingest-gateway, stream-processor, trainer …, inference-api).
#
# Not built on the development machines (no Docker engine there); see README, "Deployment", for what was
# and was not executed. Debian bookworm's librdkafka 2.0.2 is fine against Apache Kafka (only the local
# Tansu broker needs >= 2.2), so the image uses Debian's packages throughout.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config librdkafka-dev libhiredis-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest first, so dependency resolution is cached while only sources change.
COPY Package.swift ./
RUN mkdir -p Shared Services Benchmarks Tests && swift package resolve || true
COPY Shared Shared
COPY Services Services
COPY Benchmarks Benchmarks
COPY Tests Tests
# The revision streamrec_build_info reports: the image has no .git, so it comes in as a build argument
# (docker-compose passes GIT_REVISION; `docker build --build-arg GIT_REVISION=$(git rev-parse --short=12 HEAD)`).
# Package.swift reads it from the environment, which ARG sets for RUN.
ARG GIT_REVISION=unknown
# Static Swift runtime: the runtime image needs only libc and the three C client libraries.
RUN swift build -c release --static-swift-stdlib \
 && mkdir -p /out/bin \
 && for product in ingest-gateway stream-processor trainer inference-api loadgen; do \
      cp "$(swift build -c release --show-bin-path)/$product" /out/bin/; \
    done

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka1 libhiredis0.14 libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app streamrec \
 && mkdir -p /var/lib/streamrec/artifacts && chown streamrec /var/lib/streamrec/artifacts
COPY --from=build /out/bin/ /usr/local/bin/
COPY configs /app/configs
COPY Services/InferenceAPI/web /app/Services/InferenceAPI/web
WORKDIR /app
USER streamrec
# Every key has a documented default (`<service> --help-config`); containers listen on all interfaces.
ENV STREAMREC_CONFIG_DIR=/app/configs \
    STREAMREC_HTTP_HOST=0.0.0.0 \
    STREAMREC_TRAINER_ARTIFACTS_DIR=/var/lib/streamrec/artifacts
CMD ["inference-api"]
