# The pause image: one static binary, nothing else. The binary is built by the
# project's own build (`make build`, a static musl executable), so no builder
# stage is needed; `make image` (scripts/build-image.sh) builds both.
#
#   podman build -t localhost/pause:VERSION --build-arg VERSION=VERSION .
#
# BINARY is relative to the build context: the repository root by default, or
# the per-architecture context scripts/build-image.sh stages for cross builds.
FROM scratch

ARG VERSION=unknown
ARG SOURCE=unknown
ARG BINARY=pause/bin/pause

LABEL org.opencontainers.image.title="pause" \
      org.opencontainers.image.description="A tiny PID 1 for pod sandboxes (infra containers): holds the pod's namespaces, reaps zombies, exits 0 on SIGTERM" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY ${BINARY} /pause

# Non-root, as the Kubernetes pause image has been since 3.5 (nobody:nogroup).
USER 65535:65535
ENTRYPOINT ["/pause"]
