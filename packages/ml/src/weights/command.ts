import { parseArgs } from "node:util";
import { MODEL_NAMES as ARCHS, type ModelName as Arch } from "@xnn/shared";
import { importWeights } from "./importWeights.js";
import { describeNormalization } from "./manifest.js";
import { WeightsImportError } from "./source.js";

export const WEIGHTS_USAGE = `Usage: pnpm xnn weights import <file> --arch <arch> --out <dir> [--width-multiplier 1]

Converts published ImageNet weights into a directory for model.pretrainedDir:
  <file>  a .safetensors state dict with torchvision, timm or official ConvNeXt-V2 names
          (Hugging Face Hub timm/resnet18.*, timm/resnet50.*, timm/mobilenetv2_100.*,
          timm/convnextv2_atto.*, timm/convnextv2_tiny.*; torchvision state dicts saved as
          safetensors), or a keras.applications MobileNetV2 / ResNet50 .h5
  --arch  ${ARCHS.join(" | ")}
  --out   a directory that does not exist yet (written whole or not at all)
The directory's manifest.json records what the weights expect (input mean/std and colour order,
BatchNorm epsilon, padding convention); models built from it follow the source's conventions.
Workers on several hosts: pnpm weights:push <dir> s3://bucket/prefix, then model.pretrainedDir: s3://bucket/prefix.`;

/** Where the command prints; the CLI passes the process streams. */
export interface CommandIO {
  out: { write(text: string): unknown };
  err: { write(text: string): unknown };
}

/** `pnpm xnn weights ...`: exit 0 on success, 1 when the import failed, 2 on a usage error. */
export async function weightsCommand(
  args: string[],
  io: CommandIO = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help") {
    io.out.write(`${WEIGHTS_USAGE}\n`);
    return 0;
  }
  if (sub !== "import") {
    io.err.write(`unknown weights command ${sub}\n\n${WEIGHTS_USAGE}\n`);
    return 2;
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(rest);
  } catch (err) {
    io.err.write(`${(err as Error).message}\n\n${WEIGHTS_USAGE}\n`);
    return 2;
  }
  if (parsed === "help") {
    io.out.write(`${WEIGHTS_USAGE}\n`);
    return 0;
  }
  try {
    const r = await importWeights(parsed);
    const i = r.imported;
    io.out.write(
      `imported ${r.tensors} tensors (${r.parameters.toLocaleString("en-US")} values) from ${i.source.file} ` +
        `(${i.source.format}, ${i.source.naming} names) into ${r.out}\n` +
        `  graph: ${i.arch}, ${i.convention} conventions (padding ${i.padding}` +
        `${i.bnEpsilon !== null ? `, BatchNorm eps ${i.bnEpsilon}` : ""}${i.lnEpsilon !== null ? `, LayerNorm eps ${i.lnEpsilon}` : ""})\n` +
        `  inputs: ${describeNormalization(i.input)}\n` +
        `  classifier: ${i.classifierClasses === null ? "none" : `${i.classifierClasses} classes (head_logits)`}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof WeightsImportError) {
      io.err.write(`xnn weights import: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args: args[0] === "--" ? args.slice(1) : args,
    allowPositionals: true,
    strict: true,
    options: {
      arch: { type: "string" },
      out: { type: "string" },
      "width-multiplier": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help" as const;
  if (positionals.length !== 1) throw new Error("exactly one weights file is required");
  if (!values.arch) throw new Error("--arch is required");
  if (!ARCHS.includes(values.arch as Arch))
    throw new Error(`--arch must be one of ${ARCHS.join(", ")}, got '${values.arch}'`);
  if (!values.out) throw new Error("--out is required");
  const wm = values["width-multiplier"];
  const widthMultiplier = wm === undefined ? 1 : Number(wm);
  if (!(widthMultiplier > 0)) throw new Error(`--width-multiplier must be a positive number, got '${wm}'`);
  return { file: positionals[0] as string, arch: values.arch as Arch, out: values.out, widthMultiplier };
}
