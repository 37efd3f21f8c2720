# syntax=docker/dockerfile:1
# Images of the api, the task-runner and the DORA collector, one Dockerfile with a target each:
#   docker build --target api -t task-platform/api .
#   docker build --target task-runner -t task-platform/task-runner .
#   docker build --target dora -t task-platform/dora .   (telemetry dora serve)
# Expected size: ~45 MB each (distroless cc base ~22 MB + a ~20 MB stripped binary + healthcheck).

# Dependencies are built in their own layer (cargo-chef), so a code change rebuilds only our crates.
# A tag seen in use with this toolchain; pin its digest once it is pulled in CI.
FROM lukemathwalker/cargo-chef:0.1.77-rust-1.95.0-bookworm AS chef
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json -p api -p task-runner -p healthcheck -p telemetry-cli
COPY . .
RUN cargo build --release --locked -p api -p task-runner -p healthcheck -p telemetry-cli \
 && mkdir /out \
 && cp target/release/api target/release/task-runner target/release/healthcheck target/release/telemetry /out/ \
 && strip /out/*

# glibc and libgcc, no shell, user 65532 ("nonroot"); the task definitions run as 10001.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /app
COPY --from=builder /out/healthcheck /app/healthcheck
USER 10001:10001
ENV RUST_LOG=info HOST=0.0.0.0 METRICS_HOST=0.0.0.0

FROM runtime AS api
COPY --from=builder /out/api /app/api
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/app/healthcheck", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/app/api"]

FROM runtime AS task-runner
COPY --from=builder /out/task-runner /app/task-runner
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/app/healthcheck", "http://127.0.0.1:9090/healthz"]
ENTRYPOINT ["/app/task-runner"]

FROM runtime AS dora
COPY --from=builder /out/telemetry /app/telemetry
ENV LISTEN=0.0.0.0:9465
EXPOSE 9465
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/app/healthcheck", "http://127.0.0.1:9465/healthz"]
ENTRYPOINT ["/app/telemetry", "dora", "serve"]
