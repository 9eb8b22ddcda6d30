# syntax=docker/dockerfile:1
# tokenrelay sidecar image. Build: docker build -t tokenrelay .
# Run:   docker run --read-only --tmpfs /tmp -p 8080:8080 -v $PWD/proxy.config.yaml:/etc/tokenrelay/proxy.config.yaml:ro \
#          -e AKOOL_CLIENT_ID -e AKOOL_CLIENT_SECRET tokenrelay
# In the image tokenrelay listens on 0.0.0.0 (TOKENRELAY_LISTEN_HOST below) unless the config
# names a host: Docker forwards the published port to the container's interface, not to its
# loopback. Publish on the host's loopback only (-p 127.0.0.1:8080:8080) or set inbound keys.
ARG NODE_VERSION=26

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production \
    TOKENRELAY_CONFIG=/etc/tokenrelay/proxy.config.yaml \
    TOKENRELAY_LISTEN_HOST=0.0.0.0 \
    TOKENRELAY_HEALTH_URL=http://127.0.0.1:8080/healthz
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root proxy.config.yaml /etc/tokenrelay/proxy.config.yaml
# The code is root-owned and read-only to the process; it runs as the image's unprivileged user.
USER 1000:1000
# 8080: the app-facing port; 9901: admin endpoints when the config sets admin.port: 9901.
EXPOSE 8080 9901
# With admin on its own port, set TOKENRELAY_HEALTH_URL=http://127.0.0.1:9901/healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.TOKENRELAY_HEALTH_URL).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1: tokenrelay handles SIGTERM itself (drains, exits 0). The code sets most of its
# V8 settings itself; the young generation's size can only be set before V8 starts, so here
# (run without it on Node 22+, dist/cli.js would restart itself with the same two settings,
# src/ops/node-settings.ts: set here, the process starts once).
# On Node 26, V8 lets the young generation grow to ~55 MB under load (Node 20: ~34 MB), and
# glibc gives each busy thread its own malloc arena. Peak RSS under the benchmark's load,
# Node 26.10: 159-169 MB with V8's own young-generation size; 109-118 MB with 4 MB
# semi-spaces and two arenas, at 0.90-0.95x the undici pass-through's requests/s (docs/performance.md).
ENV MALLOC_ARENA_MAX=2
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli.js"]
