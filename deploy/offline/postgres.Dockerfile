# A stand-in for the official `postgres` image, from Debian's PostgreSQL:
# the same PGDATA, POSTGRES_USER / POSTGRES_PASSWORD and
# /docker-entrypoint-initdb.d on first start, and `pg_isready` on PATH.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# No packaged cluster: the entrypoint makes one in PGDATA, as upstream.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/ \
    && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
