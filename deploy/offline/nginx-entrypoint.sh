#!/bin/sh
# Renders every template as the official image's entrypoint does, then
# runs the command.
set -eu
defined="$(env | cut -d= -f1 | sed 's/^/${/; s/$/}/' | tr '\n' ' ')"
for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || continue
    output="/etc/nginx/conf.d/$(basename "$template" .template)"
    envsubst "$defined" < "$template" > "$output"
    echo "rendered $template to $output"
done
exec "$@"
