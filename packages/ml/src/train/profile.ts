import * as tf from "@tensorflow/tfjs";

/** Time and call count of one phase or one kernel. */
export interface ProfileEntry {
  name: string;
  ms: number;
  count: number;
}

/** Where a kernel ran, from the engine's own state: inside a gradient tape's forward, its backward, or neither. */
export type KernelPlace = "forward" | "backward" | "other";

interface EngineState {
  gradientDepth: number;
  activeTape: unknown[] | null;
}

/**
 * Where training time goes, for `pnpm bench profile`: wall time per phase (the loop's data wait,
 * step, validation and each hook, and whatever else a caller wraps) and self time per kernel
 * (time inside a kernel minus the kernels it calls), split by where the kernel ran: the gradient
 * tape's forward pass, its backward pass, or outside any tape (a frozen backbone, the optimizer,
 * validation), further labelled by the phase open at the time.
 *
 * Off unless a caller passes one (TrainOptions.profiler): the loop then pays one `performance.now()`
 * per phase boundary. Kernel timing wraps every kernel registered for the active backend and is
 * exact only on synchronous backends (wasm, cpu); `installKernelTimers` returns the undo.
 */
export class PhaseProfiler {
  private readonly phases = new Map<string, ProfileEntry>();
  private readonly kernels = new Map<string, ProfileEntry & { place: KernelPlace; phase: string }>();
  private readonly open: string[] = [];

  /** The innermost phase now open ("" outside any). */
  get current(): string {
    return this.open[this.open.length - 1] ?? "";
  }

  add(name: string, ms: number, count = 1): void {
    const e = this.phases.get(name) ?? { name, ms: 0, count: 0 };
    e.ms += ms;
    e.count += count;
    this.phases.set(name, e);
  }

  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    this.open.push(name);
    try {
      return await fn();
    } finally {
      this.open.pop();
      this.add(name, performance.now() - t0);
    }
  }

  /** Replaces `obj[method]` by a timed version under `name` (for objects built inside the pipeline). */
  wrapMethod<T extends object>(obj: T, method: keyof T & string, name: string): void {
    const orig = obj[method] as unknown as (...a: unknown[]) => unknown;
    const self = this;
    (obj as Record<string, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      self.open.push(name);
      try {
        return orig.apply(this, args);
      } finally {
        self.open.pop();
        self.add(name, performance.now() - t0);
      }
    };
  }

  /** Times every kernel of the active backend (self time, by place and open phase); returns the undo. */
  installKernelTimers(): () => void {
    const backendName = tf.getBackend();
    const state = (tf.engine() as unknown as { state: EngineState }).state;
    const originals = tf.getKernelsForBackend(backendName);
    const childMs: number[] = [];
    for (const k of originals) {
      const orig = k.kernelFunc;
      tf.unregisterKernel(k.kernelName, backendName);
      tf.registerKernel({
        ...k,
        kernelFunc: (args) => {
          const place: KernelPlace =
            state.gradientDepth > 0 ? "forward" : state.activeTape ? "backward" : "other";
          childMs.push(0);
          const t0 = performance.now();
          try {
            return orig(args);
          } finally {
            const dt = performance.now() - t0;
            const children = childMs.pop() ?? 0;
            const n = childMs.length;
            if (n > 0) childMs[n - 1] = (childMs[n - 1] ?? 0) + dt;
            this.addKernel(k.kernelName, place, dt - children);
          }
        },
      });
    }
    return () => {
      for (const k of originals) {
        tf.unregisterKernel(k.kernelName, backendName);
        tf.registerKernel(k);
      }
    };
  }

  private addKernel(kernel: string, place: KernelPlace, ms: number): void {
    const phase = this.current;
    const key = `${place}\t${phase}\t${kernel}`;
    const e = this.kernels.get(key) ?? { name: kernel, ms: 0, count: 0, place, phase };
    e.ms += ms;
    e.count++;
    this.kernels.set(key, e);
  }

  report(): {
    phases: ProfileEntry[];
    kernels: (ProfileEntry & { place: KernelPlace; phase: string })[];
  } {
    const byMs = (a: ProfileEntry, b: ProfileEntry) => b.ms - a.ms;
    return { phases: [...this.phases.values()].sort(byMs), kernels: [...this.kernels.values()].sort(byMs) };
  }
}
