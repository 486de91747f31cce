import * as tf from "@tensorflow/tfjs";

/**
 * Seeds come from (run seed, layer name, weight role) rather than from a running counter, so a
 * layer's initial weights do not depend on how many layers were built before it (adding a layer
 * to one stage must not reshuffle every other layer's init).
 */
export function deriveSeed(runSeed: number, layerName: string, role: string): number {
  // FNV-1a 32-bit: tiny, stable across processes and Node versions.
  let h = 0x811c9dc5;
  const s = `${runSeed}|${layerName}|${role}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // tfjs feeds the seed to seedrandom as a string; keep it a positive safe integer.
  return h >>> 0;
}

export type InitKind = "he" | "glorot" | "trunc02" | { depthwiseHe: number } | { std: number };

export function seededInit(
  kind: InitKind,
  runSeed: number,
  layerName: string,
  role = "kernel",
): ReturnType<typeof tf.initializers.heNormal> {
  const seed = deriveSeed(runSeed, layerName, role);
  if (typeof kind === "object" && "std" in kind) {
    return tf.initializers.truncatedNormal({ mean: 0, stddev: kind.std, seed });
  }
  if (typeof kind === "object") {
    // tfjs (like Keras) takes fan_in of a depthwise kernel [k, k, C, 1] as k*k*C, but each output
    // sees only k*k inputs. heNormal would shrink every depthwise layer's output by ~sqrt(C) and the
    // signal vanishes through MobileNetV2 (measured: std 1e-5 by block 6 with BN at init stats).
    // Same truncated normal as tfjs' heNormal, with the true fan-in.
    return tf.initializers.truncatedNormal({
      mean: 0,
      stddev: Math.sqrt(2 / (kind.depthwiseHe * kind.depthwiseHe)),
      seed,
    });
  }
  switch (kind) {
    case "he":
      return tf.initializers.heNormal({ seed });
    case "glorot":
      return tf.initializers.glorotUniform({ seed });
    case "trunc02":
      // ConvNeXt's published init (trunc_normal std .02); its LayerNorms keep activations sane.
      return tf.initializers.truncatedNormal({ mean: 0, stddev: 0.02, seed });
  }
}
