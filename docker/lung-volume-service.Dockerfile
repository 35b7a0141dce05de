# The example inference service (examples/lung-volume-service: classical lung segmentation standing
# in for an AI model) as an image, for docker/compose.yml. From the repo root:
#   docker build -f docker/lung-volume-service.Dockerfile -t minivna-lung-volume .
# Where official images cannot be pulled (this machine kind):
#   podman build --format docker --network host --build-arg BASE=localhost/bookworm-base \
#       -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt \
#       -f docker/lung-volume-service.Dockerfile -t minivna-lung-volume .
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# Debian's python3 plus a virtualenv for the pip requirements (bookworm's system pip refuses
# to install into /usr, PEP 668; the requirements need pydicom 3 and highdicom, newer than Debian's).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY examples/lung-volume-service/requirements.txt /opt/lung-volume-service/requirements.txt
# PIP_CERT: a CA bundle for pip behind a TLS-intercepting proxy (this machine kind: build with
# `-v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt`).
ARG PIP_CERT
RUN python3 -m venv /opt/lung-volume-service/venv \
 && /opt/lung-volume-service/venv/bin/pip install --no-cache-dir -q ${PIP_CERT:+--cert "$PIP_CERT"} \
        -r /opt/lung-volume-service/requirements.txt
COPY examples/lung-volume-service/service.py /opt/lung-volume-service/service.py

RUN groupadd --system --gid 10002 lung && useradd --system --uid 10002 --gid lung --no-create-home --shell /usr/sbin/nologin lung
USER lung
ENV PATH=/opt/lung-volume-service/venv/bin:$PATH PYTHONUNBUFFERED=1
EXPOSE 8090
# The service ends cleanly on KeyboardInterrupt; as PID 1, SIGTERM's default action would be ignored.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/health', timeout=4)"]
ENTRYPOINT ["python3", "/opt/lung-volume-service/service.py"]
CMD ["--host", "0.0.0.0", "--port", "8090"]
