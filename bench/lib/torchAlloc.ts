// The PyTorch side of the benches (`--torch-alloc`), run two ways:
// - "plain": as a plain script runs (glibc malloc with its defaults);
// - "steady": with MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ fixed.
//
// glibc serves blocks over its mmap threshold with fresh mappings and moves that threshold with what
// the process has freed. So some PyTorch processes hand their 8-25 MB activations back to the
// kernel after every batch and fault them in again, page by page; others keep them. Measured here
// (2026-12-05, 2-core VM):
// - bench ig, 128 px: 0.9-1.9 s "plain" (30-130k faults per explanation) against 0.40-0.59 s
//   "steady" in every process (0-12k faults);
// - bench train --quick, MobileNetV2 64 px: PyTorch's inference 1.6-3.5x faster "steady".
// "steady" is PyTorch's arithmetic (about what its tuning guide's jemalloc or tcmalloc gives);
// "plain" is what a user who has not tuned the allocator gets. tfjs processes showed no difference.

export const TORCH_ALLOCS = ["plain", "steady"] as const;
export type TorchAlloc = (typeof TORCH_ALLOCS)[number];

/** glibc reads these at start-up; 32 MiB is the largest fixed mmap threshold it takes on 64-bit. */
const ALLOC_ENV: Record<TorchAlloc, Record<string, string>> = {
  plain: {},
  steady: { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(2 ** 32) },
};

/** `--torch-alloc` as given ("plain", "steady" or both, comma-separated), checked. */
export function parseTorchAllocs(spec: string, bench: string): TorchAlloc[] {
  const allocs = spec.split(",");
  for (const a of allocs)
    if (!TORCH_ALLOCS.includes(a as TorchAlloc))
      throw new Error(`bench ${bench}: --torch-alloc takes ${TORCH_ALLOCS.join(" and ")}, got "${a}"`);
  return allocs as TorchAlloc[];
}

/** `--torch-alloc` where a bench takes one setting. */
export function parseTorchAlloc(spec: string, bench: string): TorchAlloc {
  const [alloc, ...more] = parseTorchAllocs(spec, bench);
  if (more.length > 0 || alloc === undefined)
    throw new Error(`bench ${bench}: --torch-alloc takes one of ${TORCH_ALLOCS.join(", ")}, got "${spec}"`);
  return alloc;
}

/** The environment of a PyTorch child process under `alloc`. */
export function torchEnv(alloc: TorchAlloc, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...ALLOC_ENV[alloc], ...extra };
}
