/**
 * Image dimensions from the file header, without a libvips call. The augmenting loader needs the
 * size before choosing a crop; asking sharp for metadata doubles the per-image fixed cost, which
 * dominates for small images. Returns undefined whenever unsure (unknown format, EXIF that may
 * rotate the image), and the caller falls back to sharp's metadata().
 */
export interface HeaderInfo {
  width: number;
  height: number;
  /** True when the file stores a single luminance channel (optionally with alpha). */
  gray: boolean;
}

export function headerSize(buf: Uint8Array): HeaderInfo | undefined {
  if (isPng(buf)) return pngSize(buf);
  if (buf.length > 4 && buf[0] === 0xff && buf[1] === 0xd8) return jpegSize(buf);
  return undefined;
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(buf: Uint8Array): boolean {
  return buf.length >= 24 && PNG_SIG.every((b, i) => buf[i] === b);
}

function u32(buf: Uint8Array, o: number): number {
  return (
    (((buf[o] as number) << 24) |
      ((buf[o + 1] as number) << 16) |
      ((buf[o + 2] as number) << 8) |
      (buf[o + 3] as number)) >>>
    0
  );
}

function u16(buf: Uint8Array, o: number): number {
  return ((buf[o] as number) << 8) | (buf[o + 1] as number);
}

function pngSize(buf: Uint8Array): HeaderInfo | undefined {
  // IHDR must be the first chunk: length(4) "IHDR"(4) width(4) height(4).
  if (buf[12] !== 0x49 || buf[13] !== 0x48 || buf[14] !== 0x44 || buf[15] !== 0x52) return undefined;
  const width = u32(buf, 16);
  const height = u32(buf, 20);
  // Colour type 0 = gray, 4 = gray + alpha.
  const gray = buf[25] === 0 || buf[25] === 4;
  // An eXIf chunk could carry an orientation that swaps axes; let sharp decide then.
  let o = 8;
  while (o + 8 <= buf.length) {
    const len = u32(buf, o);
    const type = String.fromCharCode(
      buf[o + 4] as number,
      buf[o + 5] as number,
      buf[o + 6] as number,
      buf[o + 7] as number,
    );
    if (type === "eXIf") return undefined;
    if (type === "IDAT" || type === "IEND") break;
    o += 12 + len;
  }
  return width > 0 && height > 0 ? { width, height, gray } : undefined;
}

function jpegSize(buf: Uint8Array): HeaderInfo | undefined {
  let o = 2;
  while (o + 10 < buf.length) {
    if (buf[o] !== 0xff) return undefined;
    const marker = buf[o + 1] as number;
    if (marker === 0xff) {
      o++;
      continue;
    }
    const len = u16(buf, o + 2);
    // APP1 may hold EXIF orientation.
    if (marker === 0xe1) return undefined;
    // SOF0-SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = u16(buf, o + 5);
      const width = u16(buf, o + 7);
      const gray = buf[o + 9] === 1;
      return width > 0 && height > 0 ? { width, height, gray } : undefined;
    }
    if (marker === 0xda || marker === 0xd9) return undefined;
    o += 2 + len;
  }
  return undefined;
}
