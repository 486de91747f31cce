import { execFile } from "node:child_process";
import { promisify } from "node:util";

export interface GpuInfo {
  index: number;
  name: string;
  memoryMiB: number;
}

/** GPUs as nvidia-smi reports them; none when it is absent (CPU hosts) or fails. */
export async function detectGpus(): Promise<GpuInfo[]> {
  try {
    const { stdout } = await promisify(execFile)(
      "nvidia-smi",
      ["--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
      { timeout: 5_000 },
    );
    return stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [index, name, mem] = line.split(",").map((s) => s.trim());
        return { index: Number(index), name: name ?? "", memoryMiB: Number(mem) };
      });
  } catch {
    return [];
  }
}
