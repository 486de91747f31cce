import { loadCheckpoint, prepareForExplanation, type tf } from "@xnn/ml";

/** A model version ready to explain: the checkpoint as trained and the folded copy IG runs. */
export interface WarmModel {
  versionId: string;
  model: tf.LayersModel;
  /** Same function with BatchNorm folded and convs fused (made once per load). */
  explanationModel: tf.LayersModel;
  /** Weight bytes of both copies: what keeping it warm costs. */
  bytes: number;
}

/** float32 weights of a model, which is what it holds in memory between requests. */
export function weightBytes(model: tf.LayersModel): number {
  return model.countParams() * 4;
}

/**
 * The model versions a worker keeps loaded, bounded by the bytes of their weights; the least
 * recently used goes first. The one just asked for always stays, even when it alone is over the
 * budget: it is about to be used.
 */
export class WarmModels {
  private readonly models = new Map<string, WarmModel>();
  private loads = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onEvict: (versionId: string) => void = () => {},
  ) {}

  has(versionId: string): boolean {
    return this.models.has(versionId);
  }

  /** The warm model, made most recently used; undefined when it is not loaded. */
  get(versionId: string): WarmModel | undefined {
    const hit = this.models.get(versionId);
    if (hit) {
      this.models.delete(versionId);
      this.models.set(versionId, hit);
    }
    return hit;
  }

  /** Loads a checkpoint directory (model.json + weights.bin) as this version, evicting as needed. */
  async load(versionId: string, checkpointDir: string): Promise<WarmModel> {
    const model = await loadCheckpoint(checkpointDir);
    let explanationModel: tf.LayersModel;
    try {
      explanationModel = prepareForExplanation(model);
    } catch (err) {
      model.dispose();
      throw err;
    }
    this.drop(versionId);
    const entry: WarmModel = {
      versionId,
      model,
      explanationModel,
      bytes: weightBytes(model) + weightBytes(explanationModel),
    };
    this.models.set(versionId, entry);
    this.loads++;
    this.evictOver(versionId);
    return entry;
  }

  /** Version ids in memory, least recently used first. */
  ids(): string[] {
    return [...this.models.keys()];
  }

  get totalBytes(): number {
    let sum = 0;
    for (const m of this.models.values()) sum += m.bytes;
    return sum;
  }

  /** Checkpoint loads so far (a warm hit is not one). */
  get loadCount(): number {
    return this.loads;
  }

  private evictOver(keep: string): void {
    for (const [id] of this.models) {
      if (this.totalBytes <= this.maxBytes) return;
      if (id === keep) continue;
      this.drop(id);
      this.onEvict(id);
    }
  }

  private drop(versionId: string): void {
    const old = this.models.get(versionId);
    if (!old) return;
    this.models.delete(versionId);
    old.model.dispose();
    old.explanationModel.dispose();
  }

  dispose(): void {
    for (const id of [...this.models.keys()]) this.drop(id);
  }
}
