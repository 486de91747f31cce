# GPU worker: TensorFlow.js on CUDA. @tensorflow/tfjs-node-gpu 4.x is built against CUDA 11.x and
# cuDNN 8, hence this base image. Build from the repo root:
#   docker build -f docker/gpu-worker.Dockerfile -t xnn-gpu-worker .
FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    NODE_MAJOR=20 \
    PNPM_VERSION=10.34.9

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg python3 make g++ \
 && mkdir -p /etc/apt/keyrings \
 && curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor -o /etc/apt/keyrings/nodesource.gpg \
 && echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR}.x nodistro main" > /etc/apt/sources.list.d/nodesource.list \
 && apt-get update && apt-get install -y --no-install-recommends nodejs \
 && npm install -g pnpm@${PNPM_VERSION} \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml prisma.config.ts tsconfig.base.json turbo.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY packages ./packages
COPY apps/gpu-worker ./apps/gpu-worker
COPY apps/scheduler/package.json ./apps/scheduler/package.json
COPY apps/dashboard/package.json ./apps/dashboard/package.json
COPY bench/package.json ./bench/package.json
RUN pnpm install --frozen-lockfile \
 # The native CUDA backend: its install script downloads libtensorflow, which a CUDA host can reach.
 && pnpm --filter @xnn/ml add @tensorflow/tfjs-node-gpu@4.22.0

ENV XNN_BACKEND=tensorflow \
    ARTIFACT_DIR=/artifacts \
    XNN_DATA_ROOT=/data \
    NODE_ENV=production
VOLUME ["/artifacts", "/data"]

# One process per visible GPU; DATABASE_URL and REDIS_URL point at the shared Postgres and Redis.
CMD ["pnpm", "worker", "--gpus", "all"]
