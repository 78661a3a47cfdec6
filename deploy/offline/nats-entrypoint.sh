#!/bin/sh
# As the official nats image: `-js ...` runs `nats-server -js ...`.
set -e
case "$1" in
  -*) set -- nats-server "$@" ;;
esac
if [ "$1" = nats-server ]; then
  shift
  set -- /usr/sbin/nats-server "$@"
fi
exec "$@"
