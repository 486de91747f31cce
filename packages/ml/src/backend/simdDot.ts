/**
 * Tiny hand-assembled WebAssembly SIMD kernels that run directly on the
 * tfjs wasm heap (the module imports the backend's own WebAssembly.Memory, so
 * no data is copied). They exist because the depthwise gradients are
 * per-channel products with no XNNPACK equivalent (and the 1x1 filter
 * gradient is dominated by XNNPACK's operand packing), while a JS loop over typed
 * arrays measured ~4 ns per multiply-add here (75 ms for one 64x64x32
 * batch-16 filter gradient) - an order of magnitude slower than 128-bit SIMD.
 *
 * The first two take (a, b, c, nPix, groups, aStride, bStride), pointers and strides
 * in bytes, channels in groups of 4 float32:
 *   channelDot:  c[g] = sum_{i < nPix} a[i*aStride + g] * b[i*bStride + g]
 *                (c is overwritten; callers sum rows in float64)
 *   channelAxpy: a[i*aStride + g] += b[i*bStride + g] * c[g]
 * and outerAcc (a rank-1 update per pixel, for 1x1 filter gradients), see
 * outerBody; packedGemm (a register-tiled GEMM on packed operands, for the KxK conv gradients of
 * small maps with many channels), see packedGemmBody; reluGrad and clipGrad are the Relu / ClipByValue gradients as one
 * branch-free pass (a JS loop branches on the sign of x: ~10 ns per element
 * on random signs, measured).
 *
 * packedGemm multiplies and adds with relaxed SIMD's f32x4.relaxed_madd where the runtime has it
 * (see relaxedSimdSupported): one fused multiply-add per accumulator on x64 with FMA3 (vfmadd)
 * instead of a mul and an add. The other loops keep mul + add: MobileNetV2's depthwise and 1x1
 * gradients run on them, and the learning test's from-scratch MobileNetV2 follows another
 * trajectory under any rounding change (README, "pnpm bench study").
 */
import { setFlagsFromString } from "node:v8";

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

// This package compiles against ES2023 + @types/node 20, neither of which
// declares the WebAssembly namespace; only the three members used are typed.
declare const WebAssembly: {
  validate: (bytes: Uint8Array) => boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => {
    exports: Record<string, unknown>;
  };
};

export type ChannelDot = (
  x: number,
  dy: number,
  out: number,
  nPix: number,
  groups: number,
  xStride: number,
  dyStride: number,
) => void;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function str(s: string): number[] {
  const b = [...Buffer.from(s, "utf8")];
  return [...uleb(b.length), ...b];
}

// opcodes
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I32_EQZ = 0x45;
const I32_GT_S = 0x4a;
const I32_GE_S = 0x4e;
const I32_SHL = 0x74;
const BLOCK = 0x02;
const LOOP = 0x03;
const VOID = 0x40;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const SIMD = 0xfd;
const v128Load = (offset: number) => [SIMD, 0x00, 0x00, ...uleb(offset)];
const v128Store = (offset: number) => [SIMD, 0x0b, 0x00, ...uleb(offset)];
const v128Zero = [SIMD, 0x0c, ...new Array<number>(16).fill(0)];
const F32X4_ADD = [SIMD, ...uleb(0xe4)];
const F32X4_MUL = [SIMD, ...uleb(0xe6)];
/** relaxed SIMD: (a, b, c) -> a * b + c, fused or not as the hardware does it */
const F32X4_RELAXED_MADD = [SIMD, ...uleb(0x105)];

// locals: params 0..6, then i32 g, i, xp, dp, then v128 acc0..acc3
const P_X = 0;
const P_DY = 1;
const P_OUT = 2;
const P_NPIX = 3;
const P_GROUPS = 4;
const P_XS = 5;
const P_DS = 6;
// channelAxpy(dst, src, w, nPix, groups, dstStride, srcStride) reuses the slots
const P_DST = 0;
const P_SRC = 1;
const P_W = 2;
const P_DSTS = 5;
const P_SRCS = 6;
const L_G = 7;
const L_I = 8;
const L_XP = 9;
const L_DP = 10;
const L_ACC = 11;

const get = (i: number) => [LOCAL_GET, i];
const set = (i: number) => [LOCAL_SET, i];

/** Emits the loop that handles `width` consecutive groups starting at g. */
function groupBlock(width: number): number[] {
  const code: number[] = [];
  for (let k = 0; k < width; k++) code.push(...v128Zero, ...set(L_ACC + k));
  // xp = x + g*16 ; dp = dy + g*16 ; i = nPix
  code.push(...get(P_X), ...get(L_G), I32_CONST, ...sleb(4), I32_SHL, I32_ADD, ...set(L_XP));
  code.push(...get(P_DY), ...get(L_G), I32_CONST, ...sleb(4), I32_SHL, I32_ADD, ...set(L_DP));
  code.push(...get(P_NPIX), ...set(L_I));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(L_I), I32_EQZ, BR_IF, 1);
  for (let k = 0; k < width; k++) {
    code.push(...get(L_ACC + k));
    code.push(...get(L_XP), ...v128Load(16 * k));
    code.push(...get(L_DP), ...v128Load(16 * k));
    code.push(...F32X4_MUL, ...F32X4_ADD, ...set(L_ACC + k));
  }
  code.push(...get(L_XP), ...get(P_XS), I32_ADD, ...set(L_XP));
  code.push(...get(L_DP), ...get(P_DS), I32_ADD, ...set(L_DP));
  code.push(...get(L_I), I32_CONST, ...sleb(1), I32_SUB, ...set(L_I));
  code.push(BR, 0, END, END);
  // store
  for (let k = 0; k < width; k++) {
    code.push(...get(P_OUT), ...get(L_G), I32_CONST, ...sleb(4), I32_SHL, I32_ADD);
    code.push(...get(L_ACC + k), ...v128Store(16 * k));
  }
  code.push(...get(L_G), I32_CONST, ...sleb(width), I32_ADD, ...set(L_G));
  return code;
}

/**
 * Loop for `width` groups of channelAxpy at g: w stays in registers, dst is
 * read-modified-written per pixel (taps of one pixel arrive in separate calls).
 */
function axpyBlock(width: number): number[] {
  const code: number[] = [];
  // acc locals hold w[g..g+width)
  for (let k = 0; k < width; k++) {
    code.push(
      ...get(P_W),
      ...get(L_G),
      I32_CONST,
      ...sleb(4),
      I32_SHL,
      I32_ADD,
      ...v128Load(16 * k),
      ...set(L_ACC + k),
    );
  }
  code.push(...get(P_DST), ...get(L_G), I32_CONST, ...sleb(4), I32_SHL, I32_ADD, ...set(L_XP));
  code.push(...get(P_SRC), ...get(L_G), I32_CONST, ...sleb(4), I32_SHL, I32_ADD, ...set(L_DP));
  code.push(...get(P_NPIX), ...set(L_I));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(L_I), I32_EQZ, BR_IF, 1);
  for (let k = 0; k < width; k++) {
    code.push(...get(L_XP)); // address for the store
    code.push(...get(L_XP), ...v128Load(16 * k));
    code.push(...get(L_DP), ...v128Load(16 * k), ...get(L_ACC + k), ...F32X4_MUL, ...F32X4_ADD);
    code.push(...v128Store(16 * k));
  }
  code.push(...get(L_XP), ...get(P_DSTS), I32_ADD, ...set(L_XP));
  code.push(...get(L_DP), ...get(P_SRCS), I32_ADD, ...set(L_DP));
  code.push(...get(L_I), I32_CONST, ...sleb(1), I32_SUB, ...set(L_I));
  code.push(BR, 0, END, END);
  code.push(...get(L_G), I32_CONST, ...sleb(width), I32_ADD, ...set(L_G));
  return code;
}

/** Function body: a 4-group (16-channel) main loop, then single groups. */
function body(block: (width: number) => number[]): number[] {
  const I32 = 0x7f;
  const V128 = 0x7b;
  const b: number[] = [];
  b.push(2, 4, I32, 4, V128); // local decls
  b.push(I32_CONST, 0, ...set(L_G));
  // four groups at a time: independent registers hide the add latency
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(L_G), I32_CONST, ...sleb(4), I32_ADD, ...get(P_GROUPS), I32_GT_S, BR_IF, 1);
  b.push(...block(4));
  b.push(BR, 0, END, END);
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(L_G), ...get(P_GROUPS), I32_GE_S, BR_IF, 1);
  b.push(...block(1));
  b.push(BR, 0, END, END);
  b.push(END);
  return [...uleb(b.length), ...b];
}

// outerAcc(dst, x, dy, nPix, ci, groups, xStride, dyStride) locals
const O_DST = 0;
const O_X = 1;
const O_DY = 2;
const O_NPIX = 3;
const O_CI = 4;
const O_GROUPS = 5;
const O_XS = 6;
const O_DS = 7;
const O_P = 8;
const O_G = 9;
const O_I = 10;
const O_XP = 11;
const O_DP = 12;
const O_DPTR = 13;
const O_XI = 14;
const O_ROW = 15;
const O_V = 16; // v128 v0..v3
const O_S = 20; // v128 splat of x
const I32_MUL = 0x6c;
const v128Load32Splat = [SIMD, 0x09, 0x00, 0x00];

/** Inner loops of outerAcc for `width` groups starting at O_G. */
function outerBlock(width: number): number[] {
  const c: number[] = [];
  const gBytes = [...get(O_G), I32_CONST, ...sleb(4), I32_SHL];
  for (let k = 0; k < width; k++)
    c.push(...get(O_DP), ...gBytes, I32_ADD, ...v128Load(16 * k), ...set(O_V + k));
  c.push(...get(O_DST), ...gBytes, I32_ADD, ...set(O_DPTR));
  c.push(...get(O_XP), ...set(O_XI));
  c.push(I32_CONST, 0, ...set(O_I));
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(...get(O_I), ...get(O_CI), I32_GE_S, BR_IF, 1);
  c.push(...get(O_XI), ...v128Load32Splat, ...set(O_S));
  for (let k = 0; k < width; k++) {
    c.push(...get(O_DPTR));
    c.push(...get(O_DPTR), ...v128Load(16 * k));
    c.push(...get(O_S), ...get(O_V + k), ...F32X4_MUL, ...F32X4_ADD);
    c.push(...v128Store(16 * k));
  }
  c.push(...get(O_DPTR), ...get(O_ROW), I32_ADD, ...set(O_DPTR));
  c.push(...get(O_XI), I32_CONST, ...sleb(4), I32_ADD, ...set(O_XI));
  c.push(...get(O_I), I32_CONST, ...sleb(1), I32_ADD, ...set(O_I));
  c.push(BR, 0, END, END);
  c.push(...get(O_G), I32_CONST, ...sleb(width), I32_ADD, ...set(O_G));
  return c;
}

/**
 * outerAcc: dst[i][g] += sum_{p < nPix} x[p*xStride + i] * dy[p*dyStride + g]
 * for i < ci and g < groups*4, dst rows packed (groups*16 bytes). The rank-1
 * update per pixel keeps the whole [ci, groups*4] block in L1, and no operand
 * is transposed or packed - the two costs that dominate XNNPACK GEMMs whose
 * inner dimension is a whole activation (see kernels/conv2dBackpropFilter.ts).
 */
function outerBody(): number[] {
  const I32 = 0x7f;
  const V128 = 0x7b;
  const b: number[] = [];
  b.push(2, 8, I32, 5, V128);
  b.push(...get(O_GROUPS), I32_CONST, ...sleb(4), I32_SHL, ...set(O_ROW));
  b.push(I32_CONST, 0, ...set(O_P));
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(O_P), ...get(O_NPIX), I32_GE_S, BR_IF, 1);
  b.push(...get(O_X), ...get(O_P), ...get(O_XS), I32_MUL, I32_ADD, ...set(O_XP));
  b.push(...get(O_DY), ...get(O_P), ...get(O_DS), I32_MUL, I32_ADD, ...set(O_DP));
  b.push(I32_CONST, 0, ...set(O_G));
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(O_G), I32_CONST, ...sleb(4), I32_ADD, ...get(O_GROUPS), I32_GT_S, BR_IF, 1);
  b.push(...outerBlock(4));
  b.push(BR, 0, END, END);
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(O_G), ...get(O_GROUPS), I32_GE_S, BR_IF, 1);
  b.push(...outerBlock(1));
  b.push(BR, 0, END, END);
  b.push(...get(O_P), I32_CONST, ...sleb(1), I32_ADD, ...set(O_P));
  b.push(BR, 0, END, END);
  b.push(END);
  return [...uleb(b.length), ...b];
}

// packedGemm(dst, a, b, K, mBlocks, nGroups, dstStride) locals
const G_DST = 0;
const G_A = 1;
const G_B = 2;
const G_K = 3;
const G_MB = 4;
const G_NG = 5;
const G_DS = 6;
const G_M = 7;
const G_Q = 8;
const G_I = 9;
const G_AP = 10;
const G_BP = 11;
const G_ABASE = 12;
const G_DROW = 13;
const G_ADDR = 14;
const G_BBLK = 15;
const G_ACC = 16; // v128 acc0..acc7
const G_B0 = 24;
const G_B1 = 25;
const G_S = 26;
const v128Load32SplatAt = (offset: number) => [SIMD, 0x09, 0x02, ...uleb(offset)];

/**
 * One 4-row block of packedGemm against `vecs` (1 or 2) column groups at G_BBLK: the 4 x 4*vecs
 * accumulators stay in registers over the whole K loop, then are added into dst. `fma` emits
 * relaxed_madd for each multiply-add, else f32x4.mul then f32x4.add.
 */
function gemmTile(vecs: number, fma: boolean): number[] {
  const c: number[] = [];
  const n = 4 * vecs;
  for (let k = 0; k < n; k++) c.push(...v128Zero, ...set(G_ACC + k));
  c.push(...get(G_ABASE), ...set(G_AP));
  c.push(...get(G_BBLK), ...set(G_BP));
  c.push(...get(G_K), ...set(G_I));
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(...get(G_I), I32_EQZ, BR_IF, 1);
  c.push(...get(G_BP), ...v128Load(0), ...set(G_B0));
  if (vecs === 2) c.push(...get(G_BP), ...v128Load(16), ...set(G_B1));
  for (let j = 0; j < 4; j++) {
    c.push(...get(G_AP), ...v128Load32SplatAt(4 * j), ...set(G_S));
    for (let v = 0; v < vecs; v++) {
      const acc = G_ACC + j * vecs + v;
      const bv = v === 0 ? G_B0 : G_B1;
      if (fma) c.push(...get(G_S), ...get(bv), ...get(acc), ...F32X4_RELAXED_MADD, ...set(acc));
      else c.push(...get(acc), ...get(G_S), ...get(bv), ...F32X4_MUL, ...F32X4_ADD, ...set(acc));
    }
  }
  c.push(...get(G_AP), I32_CONST, ...sleb(16), I32_ADD, ...set(G_AP));
  c.push(...get(G_BP), I32_CONST, ...sleb(16 * vecs), I32_ADD, ...set(G_BP));
  c.push(...get(G_I), I32_CONST, ...sleb(1), I32_SUB, ...set(G_I));
  c.push(BR, 0, END, END);
  // dst row j of this block, columns q*4 .. q*4 + 4*vecs
  c.push(...get(G_DROW), ...get(G_Q), I32_CONST, ...sleb(4), I32_SHL, I32_ADD, ...set(G_ADDR));
  for (let j = 0; j < 4; j++) {
    for (let v = 0; v < vecs; v++) {
      c.push(...get(G_ADDR));
      c.push(...get(G_ADDR), ...v128Load(16 * v), ...get(G_ACC + j * vecs + v), ...F32X4_ADD);
      c.push(...v128Store(16 * v));
    }
    c.push(...get(G_ADDR), ...get(G_DS), I32_ADD, ...set(G_ADDR));
  }
  // the next column block starts where this one's K loop ended
  c.push(...get(G_BP), ...set(G_BBLK));
  c.push(...get(G_Q), I32_CONST, ...sleb(vecs), I32_ADD, ...set(G_Q));
  return c;
}

/**
 * packedGemm: dst[m][n] += sum_{k < K} A[m][k] * B[k][n] for m < 4*mBlocks, n < 4*nGroups, with
 * both operands packed so that the K loop reads them contiguously:
 *   a: [mBlocks][K][4]                         (4 rows of A interleaved)
 *   b: [nGroups >> 1][K][8], then [K][4] if nGroups is odd (column blocks of B)
 *   dst: rows of dstStride bytes.
 * A 4 x 8 tile of accumulators lives in registers over all of K (8 chains hide the add latency;
 * 11 of the 16 SIMD registers on x64). Packing is what the shapes it is for need: dy rows of
 * Co*4 bytes fall into two L1 sets when read down a column, and one whole activation is K.
 */
function packedGemmBody(fma: boolean): number[] {
  const I32 = 0x7f;
  const V128 = 0x7b;
  const b: number[] = [];
  b.push(2, 9, I32, 11, V128);
  b.push(I32_CONST, 0, ...set(G_M));
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(G_M), ...get(G_MB), I32_GE_S, BR_IF, 1);
  // aBase = a + m*K*16 ; dRow = dst + m*4*dstStride
  b.push(
    ...get(G_A),
    ...get(G_M),
    ...get(G_K),
    I32_MUL,
    I32_CONST,
    ...sleb(4),
    I32_SHL,
    I32_ADD,
    ...set(G_ABASE),
  );
  b.push(
    ...get(G_DST),
    ...get(G_M),
    I32_CONST,
    ...sleb(2),
    I32_SHL,
    ...get(G_DS),
    I32_MUL,
    I32_ADD,
    ...set(G_DROW),
  );
  b.push(I32_CONST, 0, ...set(G_Q));
  b.push(...get(G_B), ...set(G_BBLK));
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(G_Q), I32_CONST, ...sleb(2), I32_ADD, ...get(G_NG), I32_GT_S, BR_IF, 1);
  b.push(...gemmTile(2, fma));
  b.push(BR, 0, END, END);
  b.push(BLOCK, VOID);
  b.push(...get(G_Q), ...get(G_NG), I32_GE_S, BR_IF, 0);
  b.push(...gemmTile(1, fma));
  b.push(END);
  b.push(...get(G_M), I32_CONST, ...sleb(1), I32_ADD, ...set(G_M));
  b.push(BR, 0, END, END);
  b.push(END);
  return [...uleb(b.length), ...b];
}

// Elementwise activation gradients: (x, dy, out, n16, lo, hi), pointers in bytes, n16 blocks
// of 16 float32 (the caller does the < 16 tail).
const M_X = 0;
const M_DY = 1;
const M_OUT = 2;
const M_N = 3;
const M_LO = 4;
const M_HI = 5;
const F32_CONST = 0x43;
const F32X4_SPLAT = [SIMD, 0x13];
const F32X4_NE = [SIMD, 0x42];
const F32X4_GT = [SIMD, 0x44];
const F32X4_LE = [SIMD, 0x45];
const F32X4_GE = [SIMD, 0x46];
const V128_AND = [SIMD, 0x4e];
const V128_OR = [SIMD, 0x50];

function f32Bytes(v: number): number[] {
  return [...new Uint8Array(new Float32Array([v]).buffer)];
}

/**
 * A loop over n16 blocks of 16 floats: per vector k, x[4k..4k+4) is loaded into local
 * `firstLocal` and `vectorValue(k)` must leave out[4k..4k+4) on the stack.
 */
function maskLoop(firstLocal: number, vectorValue: (k: number) => number[]): number[] {
  const c: number[] = [];
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(...get(M_N), I32_EQZ, BR_IF, 1);
  for (let k = 0; k < 4; k++) {
    c.push(...get(M_OUT));
    c.push(...get(M_X), ...v128Load(16 * k), ...set(firstLocal));
    c.push(...vectorValue(k));
    c.push(...v128Store(16 * k));
  }
  for (const p of [M_X, M_DY, M_OUT]) c.push(...get(p), I32_CONST, ...sleb(64), I32_ADD, ...set(p));
  c.push(...get(M_N), I32_CONST, ...sleb(1), I32_SUB, ...set(M_N));
  c.push(BR, 0, END, END);
  return c;
}

/**
 * reluGrad(x, dy, out, n16, lo, hi): out = dy * m, m = 1 for lo < x <= hi, NaN for NaN x, +0
 * otherwise. With lo = 0, hi = +Inf that is tfjs-core's Relu gradient (mul(dy, cast(step(x)))),
 * with hi = 6 its Relu6 gradient (mul(dy, cast(mul(x <= 6, step(x))))), value for value, signed
 * zeros and NaNs included.
 */
function reluGradBody(): number[] {
  const V128 = 0x7b;
  const TMP = 6;
  const LO = 7;
  const HI = 8;
  const ONE = 9;
  const b: number[] = [1, 4, V128];
  b.push(...get(M_LO), ...F32X4_SPLAT, ...set(LO));
  b.push(...get(M_HI), ...F32X4_SPLAT, ...set(HI));
  b.push(F32_CONST, ...f32Bytes(1), ...F32X4_SPLAT, ...set(ONE));
  b.push(
    ...maskLoop(TMP, (k) => [
      ...get(M_DY),
      ...v128Load(16 * k),
      ...get(TMP),
      ...get(LO),
      ...F32X4_GT,
      ...get(TMP),
      ...get(HI),
      ...F32X4_LE,
      ...V128_AND,
      ...get(ONE),
      ...V128_AND,
      ...get(TMP),
      ...get(TMP),
      ...F32X4_NE,
      ...get(TMP),
      ...V128_AND,
      ...V128_OR,
      ...F32X4_MUL,
    ]),
  );
  b.push(END);
  return [...uleb(b.length), ...b];
}

/**
 * clipGrad: out = lo <= x <= hi ? dy : +0 - tfjs-core's ClipByValue gradient
 * (where(logicalAnd(x >= lo, x <= hi), dy, zerosLike(dy))), NaN x giving 0 as there.
 */
function clipGradBody(): number[] {
  const V128 = 0x7b;
  const TMP = 6;
  const LO = 7;
  const HI = 8;
  const b: number[] = [1, 3, V128];
  b.push(...get(M_LO), ...F32X4_SPLAT, ...set(LO));
  b.push(...get(M_HI), ...F32X4_SPLAT, ...set(HI));
  b.push(
    ...maskLoop(TMP, (k) => [
      ...get(TMP),
      ...get(LO),
      ...F32X4_GE,
      ...get(TMP),
      ...get(HI),
      ...F32X4_LE,
      ...V128_AND,
      ...get(M_DY),
      ...v128Load(16 * k),
      ...V128_AND,
    ]),
  );
  b.push(END);
  return [...uleb(b.length), ...b];
}

// adamwStep: one AdamW step over n4 groups of 4 float32, the caller doing the < 4 tail.
// Params: p, m, v, g, outP, outM, outV (byte pointers), n4, then f32 factor, b1, c1, b2, c2, oma1,
// oma2, eps, negLr.
const A_P = 0;
const A_M = 1;
const A_V = 2;
const A_G = 3;
const A_OP = 4;
const A_OM = 5;
const A_OV = 6;
const A_N = 7;
const A_F32 = 8; // factor, b1, c1, b2, c2, oma1, oma2, eps, negLr: params 8..16
const F32X4_SQRT = [SIMD, ...uleb(0xe3)];
const F32X4_DIV = [SIMD, ...uleb(0xe7)];
const F32X4_SUB = [SIMD, ...uleb(0xe5)];
const F64X2_ADD = [SIMD, ...uleb(0xf0)];
const F64X2_DIV = [SIMD, ...uleb(0xf3)];
const F64X2_PROMOTE_LOW_F32X4 = [SIMD, ...uleb(0x5f)];
const F32X4_DEMOTE_F64X2_ZERO = [SIMD, ...uleb(0x5e)];
const I8X16_SHUFFLE = (lanes: number[]) => [SIMD, ...uleb(0x0d), ...lanes];
/** Bytes 8-15 of the first operand into bytes 0-7 (the rest: don't care). */
const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** Bytes 0-7 of the first operand, then bytes 0-7 of the second. */
const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/**
 * adamwStep(p, m, v, g, outP, outM, outV, n4, factor, b1, c1, b2, c2, oma1, oma2, eps, negLr):
 * tfjs' AdamOptimizer.applyGradients for one variable after AdamW's decay (optim/adamw.ts), every
 * operation in the same order and each rounded to float32 as tfjs' wasm kernels round it, so the
 * results are bit for bit those of the op-by-op step:
 *   p1 = p * factor
 *   m' = m * b1 + g * c1               v' = v * b2 + (g * g) * c2
 *   p' = ((m' / oma1) / (sqrt(v' / oma2) + eps)) * negLr + p1
 */
function adamwBody(): number[] {
  const V128 = 0x7b;
  const I = 17; // i32 byte offset
  const P = 18; // v128 locals from here
  const G = 19;
  const M = 20;
  const V = 21;
  const K = 22; // 9 splatted constants: 22..30
  const b: number[] = [2, 1, 0x7f, 13, V128];
  for (let j = 0; j < 9; j++) b.push(...get(A_F32 + j), ...F32X4_SPLAT, ...set(K + j));
  const FACTOR = K;
  const B1 = K + 1;
  const C1 = K + 2;
  const B2 = K + 3;
  const C2 = K + 4;
  const OMA1 = K + 5;
  const OMA2 = K + 6;
  const EPS = K + 7;
  const NEG_LR = K + 8;
  const at = (ptr: number) => [...get(ptr), ...get(I), I32_ADD];
  b.push(I32_CONST, 0, ...set(I));
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(A_N), I32_EQZ, BR_IF, 1);
  b.push(...at(A_P), ...v128Load(0), ...get(FACTOR), ...F32X4_MUL, ...set(P));
  b.push(...at(A_G), ...v128Load(0), ...set(G));
  // m' = m * b1 + g * c1
  b.push(...at(A_M), ...v128Load(0), ...get(B1), ...F32X4_MUL, ...get(G), ...get(C1), ...F32X4_MUL);
  b.push(...F32X4_ADD, ...set(M));
  // v' = v * b2 + (g * g) * c2
  b.push(...at(A_V), ...v128Load(0), ...get(B2), ...F32X4_MUL, ...get(G), ...get(G), ...F32X4_MUL);
  b.push(...get(C2), ...F32X4_MUL, ...F32X4_ADD, ...set(V));
  b.push(...at(A_OM), ...get(M), ...v128Store(0));
  b.push(...at(A_OV), ...get(V), ...v128Store(0));
  // p' = ((m' / oma1) / (sqrt(v' / oma2) + eps)) * negLr + p1
  b.push(...at(A_OP), ...get(M), ...get(OMA1), ...F32X4_DIV);
  b.push(...get(V), ...get(OMA2), ...F32X4_DIV, ...F32X4_SQRT, ...get(EPS), ...F32X4_ADD, ...F32X4_DIV);
  b.push(...get(NEG_LR), ...F32X4_MUL, ...get(P), ...F32X4_ADD, ...v128Store(0));
  b.push(...get(I), I32_CONST, ...sleb(16), I32_ADD, ...set(I));
  b.push(...get(A_N), I32_CONST, ...sleb(1), I32_SUB, ...set(A_N));
  b.push(BR, 0, END, END);
  b.push(END);
  return [...uleb(b.length), ...b];
}

/**
 * batchNorm(x, out, mean, scale, nf, offset, nPix, groups): per pixel, for channel c of groups * 4
 * (channels innermost), out = f32(offset[c] + f32((x - mean[c]) * scale[c]) / nf[c]) with the
 * division and the addition in float64: what the shipped wasm FusedBatchNorm compiles to (its
 * normalisation factors are doubles, so C promotes the rest of the expression), four channels at a
 * time. mean and scale are float32 per channel; nf (sqrt(variance + eps) in float32, widened) and
 * offset are float64 per channel, from the caller.
 */
function batchNormBody(): number[] {
  const [X, OUT, MEAN, SCALE, NF, OFFSET, NPIX, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7] as const;
  const C = 8; // i32: byte offset of the channel group in the float32 operands
  const G = 9; // i32: groups left in this pixel
  const E = 10; // v128: f32((x - mean) * scale)
  const LO = 11; // v128: lanes 0-1 in float64, then their result
  const HI = 12; // v128: lanes 2-3
  const b: number[] = [2, 2, 0x7f, 3, 0x7b];
  const ch32 = (ptr: number) => [...get(ptr), ...get(C), I32_ADD, ...v128Load(0)];
  // The float64 operands sit at twice the float32 offset: bytes 2c..2c+16 and 2c+16..2c+32.
  const ch64 = (ptr: number, half: 0 | 1) => [
    ...get(ptr),
    ...get(C),
    I32_CONST,
    1,
    I32_SHL,
    I32_ADD,
    ...v128Load(16 * half),
  ];
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(NPIX), I32_EQZ, BR_IF, 1);
  b.push(I32_CONST, 0, ...set(C), ...get(GROUPS), ...set(G));
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(G), I32_EQZ, BR_IF, 1);
  b.push(...get(X), ...v128Load(0), ...ch32(MEAN), ...F32X4_SUB, ...ch32(SCALE), ...F32X4_MUL, ...set(E));
  b.push(
    ...get(E),
    ...F64X2_PROMOTE_LOW_F32X4,
    ...ch64(NF, 0),
    ...F64X2_DIV,
    ...ch64(OFFSET, 0),
    ...F64X2_ADD,
  );
  b.push(...F32X4_DEMOTE_F64X2_ZERO, ...set(LO));
  b.push(...get(E), ...get(E), ...I8X16_SHUFFLE(HIGH_TO_LOW), ...F64X2_PROMOTE_LOW_F32X4);
  b.push(
    ...ch64(NF, 1),
    ...F64X2_DIV,
    ...ch64(OFFSET, 1),
    ...F64X2_ADD,
    ...F32X4_DEMOTE_F64X2_ZERO,
    ...set(HI),
  );
  b.push(...get(OUT), ...get(LO), ...get(HI), ...I8X16_SHUFFLE(LOW_HALVES), ...v128Store(0));
  for (const ptr of [X, OUT, C]) b.push(...get(ptr), I32_CONST, ...sleb(16), I32_ADD, ...set(ptr));
  b.push(...get(G), I32_CONST, ...sleb(1), I32_SUB, ...set(G));
  b.push(BR, 0, END, END);
  b.push(...get(NPIX), I32_CONST, ...sleb(1), I32_SUB, ...set(NPIX));
  b.push(BR, 0, END, END);
  b.push(END);
  return [...uleb(b.length), ...b];
}

/**
 * rowGemm(dst, a, b, bias, K, M, nGroups, aStride, dstStride, lo, hi):
 *   dst[m][n] = pmin(hi, pmax(lo, bias[n] + sum_{k < K} a[m][k] * b[k][n]))
 * for m < M, n < 4 * nGroups: a GEMM whose A operand is read in place (rows of aStride bytes, as an
 * NHWC activation is laid out), with bias (0: none) and a clamp in its epilogue; dst is overwritten
 * (rows of dstStride bytes). b is packed as packedGemm's B ([nGroups >> 1][K][8], then [K][4] when
 * nGroups is odd). Each accumulator starts at the bias and adds f32(a * b) for k = 0, 1, ... in turn
 * with a separate multiply and add, and the clamp is pmax then pmin, or for (0, +Inf) a signed
 * integer max with 0, or none for (-Inf, +Inf): the order and rounding of XNNPACK's wasm SIMD GEMM
 * micro-kernels (bias-initialised accumulators, mul + add, the minmax kernels' x86 clamp, the relu
 * kernels' integer max, the linear kernels' lack of a clamp), so a 1x1 convolution here gives the
 * shipped kernel's bits, NaNs included. 4 x 8 tiles (8
 * accumulators in registers over all of K); the M % 4 rows left run as 1 x 8 tiles.
 */
function rowGemmBody(): number[] {
  const [DST, A, B, BIAS, K, M, NG, AS, DS, LO, HI] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] as const;
  // i32 locals
  const MI = 11; // row index
  const Q = 12; // column group index
  const I = 13; // K counter
  const OFF = 14; // byte offset along the rows of A
  const BP = 15; // B pointer in the K loop
  const BBLK = 16; // start of the current column block of B
  const ROW = 17; // r0..r3: the tile's rows of A (17..20)
  const DROW = 21; // the tile's first dst row
  const ADDR = 22;
  const CLAMP = 23; // whether lo or hi is finite
  const RELU = 24; // lo = 0, hi = +Inf
  // v128 locals
  const ACC = 25; // acc0..acc7 (25..32)
  const B0 = 33;
  const B1 = 34;
  const S = 35;
  const VLO = 36;
  const VHI = 37;
  const I32X4_MAX_S = [SIMD, ...uleb(0xb8)];
  const IF = 0x04;
  const ELSE = 0x05;
  const F32X4_PMIN = [SIMD, ...uleb(0xea)];
  const F32X4_PMAX = [SIMD, ...uleb(0xeb)];
  const tile = (rows: number, vecs: number): number[] => {
    const c: number[] = [];
    // accumulators from the bias (or zero)
    c.push(...get(BIAS), IF, VOID);
    for (let v = 0; v < vecs; v++) {
      c.push(...get(BIAS), ...get(Q), I32_CONST, ...sleb(4), I32_SHL, I32_ADD, ...v128Load(16 * v));
      c.push(...set(ACC + v));
    }
    c.push(ELSE);
    for (let v = 0; v < vecs; v++) c.push(...v128Zero, ...set(ACC + v));
    c.push(END);
    for (let j = 1; j < rows; j++)
      for (let v = 0; v < vecs; v++) c.push(...get(ACC + v), ...set(ACC + j * vecs + v));
    c.push(I32_CONST, 0, ...set(OFF), ...get(BBLK), ...set(BP), ...get(K), ...set(I));
    c.push(BLOCK, VOID, LOOP, VOID);
    c.push(...get(I), I32_EQZ, BR_IF, 1);
    c.push(...get(BP), ...v128Load(0), ...set(B0));
    if (vecs === 2) c.push(...get(BP), ...v128Load(16), ...set(B1));
    for (let j = 0; j < rows; j++) {
      c.push(...get(ROW + j), ...get(OFF), I32_ADD, ...v128Load32Splat, ...set(S));
      for (let v = 0; v < vecs; v++) {
        const acc = ACC + j * vecs + v;
        c.push(...get(acc), ...get(S), ...get(v === 0 ? B0 : B1), ...F32X4_MUL, ...F32X4_ADD, ...set(acc));
      }
    }
    c.push(...get(OFF), I32_CONST, ...sleb(4), I32_ADD, ...set(OFF));
    c.push(...get(BP), I32_CONST, ...sleb(16 * vecs), I32_ADD, ...set(BP));
    c.push(...get(I), I32_CONST, ...sleb(1), I32_SUB, ...set(I));
    c.push(BR, 0, END, END);
    // epilogue: clamp, store rows j at dRow + j*dstStride + q*16
    c.push(...get(DROW), ...get(Q), I32_CONST, ...sleb(4), I32_SHL, I32_ADD, ...set(ADDR));
    c.push(...get(RELU), IF, VOID);
    for (let k = 0; k < rows * vecs; k++)
      c.push(...get(ACC + k), ...v128Zero, ...I32X4_MAX_S, ...set(ACC + k));
    c.push(ELSE, ...get(CLAMP), IF, VOID);
    for (let k = 0; k < rows * vecs; k++) {
      c.push(...get(VHI), ...get(VLO), ...get(ACC + k), ...F32X4_PMAX, ...F32X4_PMIN, ...set(ACC + k));
    }
    c.push(END, END);
    for (let j = 0; j < rows; j++) {
      for (let v = 0; v < vecs; v++) c.push(...get(ADDR), ...get(ACC + j * vecs + v), ...v128Store(16 * v));
      if (j + 1 < rows) c.push(...get(ADDR), ...get(DS), I32_ADD, ...set(ADDR));
    }
    c.push(...get(BP), ...set(BBLK));
    c.push(...get(Q), I32_CONST, ...sleb(vecs), I32_ADD, ...set(Q));
    return c;
  };
  // all column blocks of one tile of `rows` rows starting at row MI
  const rowBlock = (rows: number): number[] => {
    const c: number[] = [];
    for (let j = 0; j < rows; j++) {
      c.push(...get(A), ...get(MI), I32_CONST, ...sleb(j), I32_ADD, ...get(AS), I32_MUL, I32_ADD);
      c.push(...set(ROW + j));
    }
    c.push(...get(DST), ...get(MI), ...get(DS), I32_MUL, I32_ADD, ...set(DROW));
    c.push(I32_CONST, 0, ...set(Q), ...get(B), ...set(BBLK));
    c.push(BLOCK, VOID, LOOP, VOID);
    c.push(...get(Q), I32_CONST, ...sleb(2), I32_ADD, ...get(NG), I32_GT_S, BR_IF, 1);
    c.push(...tile(rows, 2));
    c.push(BR, 0, END, END);
    c.push(BLOCK, VOID);
    c.push(...get(Q), ...get(NG), I32_GE_S, BR_IF, 0);
    c.push(...tile(rows, 1));
    c.push(END);
    c.push(...get(MI), I32_CONST, ...sleb(rows), I32_ADD, ...set(MI));
    return c;
  };
  const b: number[] = [];
  b.push(2, 14, 0x7f, 13, 0x7b);
  b.push(...get(LO), ...F32X4_SPLAT, ...set(VLO), ...get(HI), ...F32X4_SPLAT, ...set(VHI));
  // no clamp at all for (-Inf, +Inf): a NaN stays NaN, as in XNNPACK's linear kernels
  b.push(...get(LO), F32_CONST, ...f32Bytes(Number.NEGATIVE_INFINITY), 0x5e);
  b.push(...get(HI), F32_CONST, ...f32Bytes(Number.POSITIVE_INFINITY), 0x5d, 0x72, ...set(CLAMP));
  // relu as XNNPACK's relu kernels do it: a signed integer max with 0 (NaN stays NaN, -0 -> +0)
  b.push(...get(LO), F32_CONST, ...f32Bytes(0), 0x5b);
  b.push(...get(HI), F32_CONST, ...f32Bytes(Number.POSITIVE_INFINITY), 0x5b, 0x71, ...set(RELU));
  b.push(I32_CONST, 0, ...set(MI));
  // 4-row tiles while 4 rows are left
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(MI), I32_CONST, ...sleb(4), I32_ADD, ...get(M), I32_GT_S, BR_IF, 1);
  b.push(...rowBlock(4));
  b.push(BR, 0, END, END);
  // then single rows
  b.push(BLOCK, VOID, LOOP, VOID);
  b.push(...get(MI), ...get(M), I32_GE_S, BR_IF, 1);
  b.push(...rowBlock(1));
  b.push(BR, 0, END, END);
  b.push(END);
  return [...uleb(b.length), ...b];
}

/** The module's bytes; `fma`: packedGemm with relaxed_madd (needs relaxed SIMD). */
function buildModule(fma: boolean): Uint8Array {
  const I32 = 0x7f;
  const F32 = 0x7d;
  const type = section(1, [
    5,
    ...[0x60, 7, ...new Array<number>(7).fill(I32), 0],
    ...[0x60, 8, ...new Array<number>(8).fill(I32), 0],
    ...[0x60, 6, I32, I32, I32, I32, F32, F32, 0],
    ...[0x60, 17, ...new Array<number>(8).fill(I32), ...new Array<number>(9).fill(F32), 0],
    ...[0x60, 11, ...new Array<number>(9).fill(I32), F32, F32, 0],
  ]);
  // memory imported without a maximum so it matches whatever tfjs allocated
  const imports = section(2, [1, ...str("env"), ...str("memory"), 0x02, 0x00, 0x01]);
  const funcs = section(3, [9, 0, 0, 1, 2, 2, 0, 3, 1, 4]);
  const exports = section(7, [
    9,
    ...[...str("channelDot"), 0x00, 0],
    ...[...str("channelAxpy"), 0x00, 1],
    ...[...str("outerAcc"), 0x00, 2],
    ...[...str("reluGrad"), 0x00, 3],
    ...[...str("clipGrad"), 0x00, 4],
    ...[...str("packedGemm"), 0x00, 5],
    ...[...str("adamwStep"), 0x00, 6],
    ...[...str("batchNorm"), 0x00, 7],
    ...[...str("rowGemm"), 0x00, 8],
  ]);
  const code = section(10, [
    9,
    ...body(groupBlock),
    ...body(axpyBlock),
    ...outerBody(),
    ...reluGradBody(),
    ...clipGradBody(),
    ...packedGemmBody(fma),
    ...adamwBody(),
    ...batchNormBody(),
    ...rowGemmBody(),
  ]);
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...type,
    ...imports,
    ...funcs,
    ...exports,
    ...code,
  ]);
}

export interface SimdKernels {
  /** Whether packedGemm fuses its multiply-adds (relaxed_madd), see simdKernelsFor. */
  fusedMultiplyAdd: boolean;
  channelDot: ChannelDot;
  /**
   * channelAxpy(dst, src, w, nPix, groups, dstStride, srcStride):
   *   dst[i*dstStride + g] += src[i*srcStride + g] * w[g]  for g < groups*4, i < nPix
   */
  channelAxpy: ChannelDot;
  /** outerAcc(dst, x, dy, nPix, ci, groups, xStride, dyStride), see outerBody */
  outerAcc: (
    dst: number,
    x: number,
    dy: number,
    nPix: number,
    ci: number,
    groups: number,
    xStride: number,
    dyStride: number,
  ) => void;
  /** reluGrad(x, dy, out, n16, lo, hi): out = dy * [lo < x <= hi] over n16 * 16 floats, see reluGradBody */
  reluGrad: (x: number, dy: number, out: number, n16: number, lo: number, hi: number) => void;
  /** clipGrad(x, dy, out, n16, lo, hi): out = lo <= x <= hi ? dy : 0, see clipGradBody */
  clipGrad: (x: number, dy: number, out: number, n16: number, lo: number, hi: number) => void;
  /**
   * packedGemm(dst, a, b, K, mBlocks, nGroups, dstStride): dst += A B with packed operands (see
   * packedGemmBody and packGemmB)
   */
  packedGemm: (
    dst: number,
    a: number,
    b: number,
    K: number,
    mBlocks: number,
    nGroups: number,
    dstStride: number,
  ) => void;
  /** batchNorm(x, out, mean, scale, nf, offset, nPix, groups), see batchNormBody */
  batchNorm: (
    x: number,
    out: number,
    mean: number,
    scale: number,
    nf: number,
    offset: number,
    nPix: number,
    groups: number,
  ) => void;
  /**
   * rowGemm(dst, a, b, bias, K, M, nGroups, aStride, dstStride, lo, hi): dst = clamp(bias + A B)
   * with A read in place and B packed as packedGemm's, see rowGemmBody
   */
  rowGemm: (
    dst: number,
    a: number,
    b: number,
    bias: number,
    K: number,
    M: number,
    nGroups: number,
    aStride: number,
    dstStride: number,
    lo: number,
    hi: number,
  ) => void;
  /** One AdamW step of one variable over n4 * 4 floats, see adamwBody. */
  adamwStep: (
    p: number,
    m: number,
    v: number,
    g: number,
    outP: number,
    outM: number,
    outV: number,
    n4: number,
    factor: number,
    b1: number,
    c1: number,
    b2: number,
    c2: number,
    oma1: number,
    oma2: number,
    eps: number,
    negLr: number,
  ) => void;
}

/**
 * A module whose one function is f32x4.relaxed_madd of its three v128 parameters: validates only
 * where the runtime has relaxed SIMD.
 */
const RELAXED_MADD_PROBE = ((): Uint8Array => {
  const fn = [0, ...get(0), ...get(1), ...get(2), ...F32X4_RELAXED_MADD, END];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 3, 0x7b, 0x7b, 0x7b, 1, 0x7b]),
    ...section(3, [1, 0]),
    ...section(10, [1, ...uleb(fn.length), ...fn]),
  ]);
})();

let relaxedSimd: boolean | undefined;

/**
 * Whether this runtime compiles wasm relaxed SIMD. Node 20's V8 has it behind a flag, which is set
 * here once (before the first module that uses it is compiled; it changes nothing for modules
 * without relaxed instructions, tfjs's included). Newer runtimes have it on by default.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedSimd === undefined) {
    try {
      if (!WebAssembly.validate(RELAXED_MADD_PROBE)) setFlagsFromString("--experimental-wasm-relaxed-simd");
      relaxedSimd = WebAssembly.validate(RELAXED_MADD_PROBE);
    } catch {
      relaxedSimd = false;
    }
  }
  return relaxedSimd;
}

/** The compiled modules: with fused multiply-add in packedGemm, and without; null if it failed. */
const compiled = new Map<boolean, object | null>();
const instances = new WeakMap<WasmMemory, Map<boolean, SimdKernels>>();

function compiledModule(fma: boolean): object | null {
  let m = compiled.get(fma);
  if (m === undefined) {
    try {
      m = new WebAssembly.Module(buildModule(fma));
    } catch {
      m = null;
    }
    compiled.set(fma, m);
  }
  return m;
}

/**
 * Returns the kernels bound to `memory`, or null when this runtime cannot compile wasm SIMD
 * (callers then use a JS loop). packedGemm uses fused multiply-add (relaxed SIMD) where the
 * runtime supports it, unless `options.fma` is false (tests and benchmarks compare the two).
 */
export function simdKernelsFor(
  memory: WasmMemory | undefined,
  options: { fma?: boolean } = {},
): SimdKernels | null {
  if (!memory) return null;
  const fma = options.fma !== false && relaxedSimdSupported();
  let byVariant = instances.get(memory);
  const hit = byVariant?.get(fma);
  if (hit) return hit;
  const module = compiledModule(fma);
  if (module === null) return null;
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  const k: SimdKernels = {
    fusedMultiplyAdd: fma,
    channelDot: inst.exports.channelDot as ChannelDot,
    channelAxpy: inst.exports.channelAxpy as ChannelDot,
    outerAcc: inst.exports.outerAcc as SimdKernels["outerAcc"],
    reluGrad: inst.exports.reluGrad as SimdKernels["reluGrad"],
    clipGrad: inst.exports.clipGrad as SimdKernels["clipGrad"],
    packedGemm: inst.exports.packedGemm as SimdKernels["packedGemm"],
    adamwStep: inst.exports.adamwStep as SimdKernels["adamwStep"],
    batchNorm: inst.exports.batchNorm as SimdKernels["batchNorm"],
    rowGemm: inst.exports.rowGemm as SimdKernels["rowGemm"],
  };
  if (!byVariant) {
    byVariant = new Map();
    instances.set(memory, byVariant);
  }
  byVariant.set(fma, k);
  return k;
}

/** The channelDot kernel bound to `memory`, or null without wasm SIMD. */
export function channelDotFor(memory: WasmMemory | undefined): ChannelDot | null {
  return simdKernelsFor(memory)?.channelDot ?? null;
}
