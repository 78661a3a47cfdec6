# A stand-in for the official `nats` image, from Debian's nats-server: as
# upstream's entrypoint does, arguments that start with `-` go to
# nats-server, so compose's `command: ["-js", ...]` means the same here.
# wget answers the health check, as busybox's does in the alpine image.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends nats-server wget \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data
COPY nats-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 4222 8222
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["nats-server"]
