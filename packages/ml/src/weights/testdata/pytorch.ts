import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

/** Debian's Python, where python3-torch lives (a pyenv `python3` on PATH may lack it). */
export const PYTHON = "/usr/bin/python3";
export const PYTORCH_INSTALL = "apt-get install -y python3-torch python3-torchvision python3-h5py";

/**
 * Throws, naming the apt command that installs them, unless Debian's Python can import `modules`.
 * Tests that compare against PyTorch call this: they fail without it, never skip.
 */
export async function requirePyTorch(modules: readonly string[] = ["torch", "torchvision"]): Promise<void> {
  const missing = `these tests run PyTorch from Debian's Python stack: ${PYTORCH_INSTALL}`;
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found. ${missing}`);
  try {
    await promisify(execFile)(PYTHON, ["-c", `import ${modules.join(", ")}`]);
  } catch (err) {
    throw new Error(
      `${PYTHON} cannot import ${modules.join("/")} (${(err as Error).message.trim()}). ${missing}`,
    );
  }
}
