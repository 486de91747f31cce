import { stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ArtifactIntegrityError, ArtifactNotFoundError, listFiles, tarStream } from "@xnn/artifacts";
import { Router } from "express";
import { requireRole } from "../auth";
import { type ApiDeps, artifactsOf } from "../deps";
import { HttpError } from "../httpError";
import { pathParam } from "../params";

export const CHECKPOINT_SHA256_HEADER = "X-Checkpoint-Sha256";

/**
 * GET /api/runs/:id/checkpoint: the run's best checkpoint as one tar archive (a folder
 * `<runId>-checkpoint/`), read through the artifact store and verified first; the sha256 Postgres
 * records for it (over model.json then weights.bin) travels in X-Checkpoint-Sha256.
 */
export function runCheckpointRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/:id/checkpoint", requireRole(deps, "operator"), async (req, res) => {
    const runId = pathParam(req, "id");
    const run = await deps.prisma.run.findUnique({
      where: { id: runId },
      select: { id: true, checkpoints: { where: { kind: "best" }, orderBy: { epoch: "desc" }, take: 1 } },
    });
    if (!run) throw new HttpError(404, `no run ${runId}`);
    const ckpt = run.checkpoints[0];
    if (!ckpt) throw new HttpError(404, `run ${runId} has no best checkpoint`);
    let dir: string;
    try {
      dir = await artifactsOf(deps).getDir(ckpt.uri, { sha256: ckpt.sha256 });
    } catch (err) {
      if (err instanceof ArtifactNotFoundError)
        throw new HttpError(
          409,
          `run ${runId}: its checkpoint ${ckpt.uri} is missing from the artifact store`,
        );
      if (err instanceof ArtifactIntegrityError)
        throw new HttpError(409, `run ${runId}: its checkpoint failed verification: ${err.message}`);
      throw err;
    }
    const files = await listFiles(dir);
    let length = 1024;
    for (const f of files) {
      const { size } = await stat(path.join(dir, f));
      length += 512 + Math.ceil(size / 512) * 512;
    }
    const name = `${runId}-checkpoint`;
    res.writeHead(200, {
      "Content-Type": "application/x-tar",
      "Content-Length": String(length),
      "Content-Disposition": `attachment; filename="${name}.tar"`,
      [CHECKPOINT_SHA256_HEADER]: ckpt.sha256,
      "Access-Control-Expose-Headers": CHECKPOINT_SHA256_HEADER,
    });
    await pipeline(Readable.from(tarStream(dir, files, name)), res);
  });
  return router;
}
