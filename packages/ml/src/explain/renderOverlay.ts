import sharp from "sharp";

export interface RenderOverlayOptions {
  /** Image width; default: the input is square. */
  width?: number;
  height?: number;
  /** Shown in the title ("attribution for <name>"). */
  predictedClassName?: string;
  /** |attribution| at this percentile maps to full colour; larger values are clipped. Default 98. */
  percentile?: number;
  /** Longer side of the rendered image in pixels (upscaled so a 128 px input is readable). Default 448. */
  displaySize?: number;
  /** Strongest heat-map opacity over the gray image, 0..1. Default 0.75. */
  maxAlpha?: number;
}

export interface OverlayScale {
  /** The attribution (summed over channels) that maps to full colour. */
  clip: number;
  /** Per pixel, attribution / clip clipped to [-1, 1]. */
  signed: Float32Array;
}

const POSITIVE: readonly [number, number, number] = [0, 200, 60];
const NEGATIVE: readonly [number, number, number] = [230, 30, 30];

/** k-th percentile (0..100) of |v| by selection on a copy; linear interpolation between ranks. */
export function absPercentile(values: ArrayLike<number>, percentile: number): number {
  const a = Float64Array.from(values, Math.abs).sort();
  if (a.length === 0) return 0;
  const pos = (Math.min(100, Math.max(0, percentile)) / 100) * (a.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(a.length - 1, lo + 1);
  return (a[lo] as number) + (pos - lo) * ((a[hi] as number) - (a[lo] as number));
}

/** Sum the channel attributions per pixel (the heat map is per pixel, the input gray replicated). */
export function pixelAttributions(attributions: Float32Array, pixels: number): Float32Array {
  const channels = attributions.length / pixels;
  if (!Number.isInteger(channels) || channels < 1) {
    throw new Error(
      `renderOverlay: ${attributions.length} attribution values do not divide into ${pixels} pixels`,
    );
  }
  const out = new Float32Array(pixels);
  for (let p = 0; p < pixels; p++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += attributions[p * channels + c] as number;
    out[p] = s;
  }
  return out;
}

/**
 * Scale by a high percentile of |attribution| rather than the maximum: IG maps on images are
 * dominated by a few extreme pixels, and scaling by the max leaves everything else invisible.
 */
export function overlayScale(perPixel: Float32Array, percentile = 98): OverlayScale {
  let clip = absPercentile(perPixel, percentile);
  if (!(clip > 0)) {
    // Fewer than 2% non-zero pixels (or all zero): fall back to the max so they still show.
    clip = absPercentile(perPixel, 100);
  }
  const signed = new Float32Array(perPixel.length);
  if (clip > 0) {
    for (let i = 0; i < perPixel.length; i++)
      signed[i] = Math.max(-1, Math.min(1, (perPixel[i] as number) / clip));
  }
  return { clip, signed };
}

function formatValue(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 0.01 && a < 1000 ? v.toPrecision(2) : v.toExponential(1);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The input in grayscale under a heat map: green where the (channel-summed) attribution supports
 * the explained class, red where it speaks against it, opacity proportional to |attribution| up
 * to the percentile clip; a colour bar on the right gives the scale. Returns PNG bytes.
 */
export async function renderOverlay(
  gray: Uint8Array,
  attributions: Float32Array,
  opts: RenderOverlayOptions = {},
): Promise<Buffer> {
  const side = Math.round(Math.sqrt(gray.length));
  const width = opts.width ?? side;
  const height = opts.height ?? (opts.width ? gray.length / opts.width : side);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width * height !== gray.length) {
    throw new Error(
      `renderOverlay: gray has ${gray.length} pixels; pass width and height for a non-square image`,
    );
  }
  const perPixel = pixelAttributions(attributions, width * height);
  const { clip, signed } = overlayScale(perPixel, opts.percentile ?? 98);
  const maxAlpha = opts.maxAlpha ?? 0.75;

  const rgb = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const g = gray[p] as number;
    const t = signed[p] as number;
    const col = t >= 0 ? POSITIVE : NEGATIVE;
    // Linear in |t|: pixels near zero attribution keep the plain gray, so the map is not all noise.
    const alpha = maxAlpha * Math.abs(t);
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round(g * (1 - alpha) + (col[c] as number) * alpha);
  }

  const display = opts.displaySize ?? 448;
  const scale = display / Math.max(width, height);
  const dw = Math.round(width * scale);
  const dh = Math.round(height * scale);
  const image = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .resize(dw, dh, { kernel: scale >= 2 ? "nearest" : "lanczos3" })
    .png()
    .toBuffer();

  const title = opts.predictedClassName ? `attribution for "${opts.predictedClassName}"` : "attribution";
  const top = 28;
  const barW = 18;
  const barX = dw + 16;
  const panelW = dw + 96;
  const panelH = dh + top + 8;
  const barTop = top;
  const barH = dh;
  // Gradient stops match the pixel blend at full opacity: green (+clip) .. gray (0) .. red (-clip).
  const stop = (c: readonly number[]) => `rgb(${c.join(",")})`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${panelW}" height="${panelH}">
  <defs><linearGradient id="bar" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="${stop(POSITIVE)}"/><stop offset="0.5" stop-color="rgb(128,128,128)"/><stop offset="1" stop-color="${stop(NEGATIVE)}"/>
  </linearGradient></defs>
  <rect width="100%" height="100%" fill="white"/>
  <text x="4" y="19" font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="15" fill="#222">${escapeXml(title)}</text>
  <rect x="${barX}" y="${barTop}" width="${barW}" height="${barH}" fill="url(#bar)" stroke="#444" stroke-width="1"/>
  <g font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="12" fill="#222">
    <text x="${barX + barW + 4}" y="${barTop + 10}">+${formatValue(clip)}</text>
    <text x="${barX + barW + 4}" y="${barTop + barH / 2 + 4}">0</text>
    <text x="${barX + barW + 4}" y="${barTop + barH}">-${formatValue(clip)}</text>
  </g>
</svg>`;
  return sharp(Buffer.from(svg))
    .composite([{ input: image, left: 0, top }])
    .png()
    .toBuffer();
}

/** Undo ImageNet-style normalisation of channel 0 back to 0..255 gray (the input is gray replicated). */
export function grayFromNormalised(x: Float32Array, mean0: number, std0: number): Uint8Array {
  const n = x.length / 3;
  const out = new Uint8Array(n);
  for (let p = 0; p < n; p++)
    out[p] = Math.max(0, Math.min(255, Math.round(((x[p * 3] as number) * std0 + mean0) * 255)));
  return out;
}
