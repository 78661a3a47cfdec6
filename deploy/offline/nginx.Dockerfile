# A stand-in for the official `nginx` image, from Debian's nginx-light:
# /etc/nginx/templates/*.template rendered into /etc/nginx/conf.d with the
# environment's variables (only those that are set, so nginx's own $vars
# stay), logs on stdout and stderr, curl for the health check.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light curl gettext-base \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log \
    && mkdir -p /etc/nginx/templates
COPY nginx-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
STOPSIGNAL SIGQUIT
EXPOSE 80
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
