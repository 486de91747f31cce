# Scheduler API (also serves the built dashboard). Build from the repo root:
#   docker build -f docker/scheduler.Dockerfile -t xnn-scheduler .
FROM node:20-bookworm-slim

ENV PNPM_VERSION=10.34.9
RUN npm install -g pnpm@${PNPM_VERSION}

WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile \
 && pnpm --filter @xnn/dashboard build

ENV NODE_ENV=production PORT=4000
EXPOSE 4000
CMD ["pnpm", "api"]
