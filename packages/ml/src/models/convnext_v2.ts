import type { Builder, ST } from "./blocks.js";
import { GRN } from "./layers.js";

export interface ConvNeXtV2Config {
  depths: readonly [number, number, number, number];
  dims: readonly [number, number, number, number];
}

export const CONVNEXT_V2: Record<"atto" | "tiny", ConvNeXtV2Config> = {
  atto: { depths: [2, 2, 6, 2], dims: [40, 80, 160, 320] },
  tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] },
};

/**
 * Names mirror the timm/official module paths with '.' -> '_' (stem_conv, stage1_downsample_conv,
 * stage0_block0_dwconv, ..._pwconv1, ..._grn, ..._pwconv2, final_norm) so a weight-porting script
 * can map them mechanically. Stochastic depth is omitted (identity at inference; only a regulariser).
 */
export function convNeXtV2Backbone(b: Builder, input: ST, cfg: ConvNeXtV2Config): ST {
  let x = b.conv(input, "stem_conv", {
    filters: cfg.dims[0],
    kernel: 4,
    strides: 4,
    padding: "valid",
    useBias: true,
    init: "trunc02",
  });
  x = b.ln(x, "stem_norm");
  for (let s = 0; s < 4; s++) {
    const dim = cfg.dims[s] as number;
    if (s > 0) {
      x = b.ln(x, `stage${s}_downsample_norm`);
      x = b.conv(x, `stage${s}_downsample_conv`, {
        filters: dim,
        kernel: 2,
        strides: 2,
        padding: "valid",
        useBias: true,
        init: "trunc02",
      });
    }
    for (let j = 0; j < (cfg.depths[s] as number); j++) x = block(b, x, dim, `stage${s}_block${j}`);
  }
  return x;
}

function block(b: Builder, input: ST, dim: number, name: string): ST {
  let x = b.depthwise(input, `${name}_dwconv`, { kernel: 7, useBias: true, init: "trunc02" });
  x = b.ln(x, `${name}_norm`);
  // Dense on NHWC acts on the last axis, i.e. a 1x1 conv computed as one matmul (cheaper to train
  // on the cpu/wasm backends than a conv2d with a 1x1 kernel).
  x = b.dense(x, `${name}_pwconv1`, 4 * dim, "trunc02");
  x = b.act(x, `${name}_gelu`, "gelu");
  x = new GRN({ name: `${name}_grn` }).apply(x) as ST;
  x = b.dense(x, `${name}_pwconv2`, dim, "trunc02");
  return b.add([input, x], `${name}_add`);
}
