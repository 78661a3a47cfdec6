# A stand-in for the official `node:20-bookworm-slim`, from Debian's
# nodejs and npm (Node 18): enough to build the admin panel (Vite) in
# deploy/gateway/Dockerfile's first stage. npm trusts the system's CA
# bundle, which trusts the host's certificates (see images.yml).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN node --version && npm --version
