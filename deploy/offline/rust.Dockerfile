# A stand-in for the official `rust:<version>-slim-bookworm`: the host's own
# toolchain (bin and lib of `rustc --print sysroot`, staged into the build
# context's `toolchain/` by `cargo xtask offline-images`) on the offline
# Debian base, laid out as the official image is (CARGO_HOME
# /usr/local/cargo), with what that image adds for building crates (gcc).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && cargo --version && rustc --version
