# GPU worker: TensorFlow.js on CUDA. @tensorflow/tfjs-node-gpu 4.x loads libtensorflow 2.9, built
# against CUDA 11.x and cuDNN 8, hence this base image (the host needs only the NVIDIA driver and
# the NVIDIA Container Toolkit). Build from the repo root:
#   docker build -f docker/gpu-worker.Dockerfile -t xnn-gpu-worker .
FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    NODE_MAJOR=20 \
    PNPM_VERSION=10.34.9

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# python3, make and g++: node-gyp, should the tfjs-node-gpu addon have to build from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg python3 make g++ \
 && mkdir -p /etc/apt/keyrings \
 && curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor -o /etc/apt/keyrings/nodesource.gpg \
 && echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR}.x nodistro main" > /etc/apt/sources.list.d/nodesource.list \
 && apt-get update && apt-get install -y --no-install-recommends nodejs \
 && npm install -g pnpm@${PNPM_VERSION} \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change.
# pnpm's Docker recipe: `pnpm fetch` needs only the lockfile, so the package download is a layer
# that is rebuilt only when the lockfile changes; the install then links offline from it.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
# @tensorflow/tfjs-node-gpu (and tfjs-node) are optionalDependencies of @xnn/ml whose install
# scripts pnpm-workspace.yaml allows: here they download libtensorflow. pnpm skips an optional
# package whose script failed and carries on, so the build checks the addon exists: an image that
# would silently train on wasm fails here instead.
RUN pnpm install --offline --frozen-lockfile \
 && ls packages/ml/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node

# TF_FORCE_GPU_ALLOW_GROWTH: libtensorflow otherwise takes nearly all GPU memory at start, and the
# healthcheck's smoke step (a second process on the same GPU) would have none.
ENV XNN_BACKEND=tensorflow \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    XNN_DATA_ROOT=/data \
    NODE_ENV=production

# One training step on each visible GPU, in a child process; unhealthy when a GPU cannot train.
HEALTHCHECK --interval=5m --timeout=3m --start-period=3m --retries=2 \
  CMD ["pnpm", "-s", "worker", "--check", "--gpus", "all"]

# One process per visible GPU; DATABASE_URL, REDIS_URL and the artifact store settings come from
# the environment (docker/compose.yaml).
CMD ["pnpm", "worker", "--gpus", "all"]
