# A stand-in for the OpenTelemetry Collector and Jaeger slots of
# docker-compose: accepts OTLP/HTTP exports on 4318 and shows what it
# received on 16686. Arguments (the collector's --config) are ignored.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
COPY otlp_sink.py /usr/local/bin/otlp_sink.py
USER 65534
EXPOSE 4318 16686
ENTRYPOINT ["python3", "/usr/local/bin/otlp_sink.py"]
