# syntax=docker/dockerfile:1
# ztroot root server. Build:  docker build -t ztroot .
# (podman: podman build --format docker -t ztroot .  — the docker format keeps the HEALTHCHECK)
# The base image is a build argument: the official Node image matching package.json's engines (>= 20.19),
# or any image laid out like it (node and npm on the PATH), e.g. one made by test/deploy/base-image.sh.
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim

# ---- build: the native addons, dev dependencies, TypeScript → dist/, then production dependencies only ---------
# Only this stage has a compiler; the runtime stage below gets the built addons (.node files) and nothing else
# of it. Same base image in both stages, so the addons are built against the glibc they run on.
FROM ${NODE_IMAGE} AS build
# First, as it changes least: gcc, g++, make and python3 for node-gyp (npm's own; the image's Node headers, as the
# official image has them in /usr/local/include/node).
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends gcc g++ make python3; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the sources are not here yet for `prepare`, nor native/ for `install` (built next, one by one).
RUN npm ci --ignore-scripts --no-audit --no-fund
# The addons a root runs on: native/udp (batched recvmmsg/sendmmsg UDP; without it node:dgram, ~4× the CPU per
# relayed packet), native/hash (the memory-hard identity hash; without it the pure-JS one, ~3-5× slower) and
# native/aes (AES-GMAC-SIV, packet suite 3, on Node's OpenSSL; without it node:crypto, ~5-7× the CPU per packet).
# Without --optional a failed build fails the image build, with the reason: an image never ships without them.
# (native/tap is the leaf's TAP device: a root has no use for it.)
COPY native native
RUN node native/udp/build.mjs && node native/hash/build.mjs && node native/aes/build.mjs
COPY tsconfig.json ./
COPY vl1 vl1
COPY planet planet
COPY root root
COPY relay relay
COPY fleet fleet
COPY leaf leaf
COPY tools tools
COPY test test
RUN npx tsc -p tsconfig.json \
 && rm -rf dist/test \
 && find dist -name '*.test.js' -delete -o -name '*.test.js.map' -delete \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/.cache

# ---- runtime: node, production dependencies, dist/ and the built addons ---------------------------------------
FROM ${NODE_IMAGE}
# setcap gives node CAP_NET_BIND_SERVICE as a file capability, so the non-root user can bind 443 (the TCP relay)
# with no other capability; the tool is removed again in the same layer.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends libcap2-bin; \
    setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v node)")"; \
    apt-get purge -y --auto-remove libcap2-bin; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log; \
    mkdir -p /var/lib/ztroot; \
    chown 10001:10001 /var/lib/ztroot; \
    chmod 0700 /var/lib/ztroot
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
# Where dist/ looks for them (native/<name>/build/Release/<name>.node); /api/status shows them in use
# (udp.path "batched", identityHash "native-…").
COPY --from=build /src/native/udp/build/Release/udp.node native/udp/build/Release/udp.node
COPY --from=build /src/native/hash/build/Release/hash.node native/hash/build/Release/hash.node
COPY --from=build /src/native/aes/build/Release/aes.node native/aes/build/Release/aes.node
COPY bin bin
# Every setting is one of ztroot's environment variables (README, "Running a root"); these are the container's
# defaults. The HTTP API stays on loopback (it needs ZTROOT_METRICS_TOKEN to listen elsewhere); the
# healthcheck reaches it there.
ENV NODE_ENV=production \
    ZTROOT_STATE_DIR=/var/lib/ztroot \
    ZTROOT_PORT=9993 \
    ZTROOT_HTTP=127.0.0.1:9980
VOLUME ["/var/lib/ztroot"]
EXPOSE 9993/udp 443/tcp
USER 10001:10001
# /healthz on whatever ZTROOT_HTTP says (a wildcard listener is asked on loopback).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const m=/^(?:\\[(.+)\\]|([^:]+)):(\\d+)$/.exec(process.env.ZTROOT_HTTP||'127.0.0.1:9980');if(!m)process.exit(1);let h=m[1]||m[2];if(h==='0.0.0.0')h='127.0.0.1';if(h==='::')h='::1';if(h.includes(':'))h='['+h+']';fetch('http://'+h+':'+m[3]+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, no shell: node is PID 1 and gets SIGTERM itself (the root stops cleanly on it). Use --init for a
# reaper if you add child processes.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/tools/cli.js"]
CMD ["start"]
