import sharp from "sharp";

export interface ImageHeader {
  format: string;
  width: number;
  height: number;
}

/**
 * Format and dimensions from the header only (libvips does not decode pixels for metadata), so a
 * server can refuse a decompression bomb before paying for it. Throws if the header is unreadable.
 */
export async function readImageHeader(bytes: Buffer): Promise<ImageHeader> {
  const meta = await sharp(bytes).metadata();
  return { format: meta.format ?? "unknown", width: meta.width ?? 0, height: meta.height ?? 0 };
}
