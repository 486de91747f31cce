import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { type ConfigIssue, formatPath } from "./ConfigError";

/** A parsed YAML (or JSON, which is YAML) text that can say where any key path sits in it. */
export class YamlSource {
  readonly value: unknown;
  readonly issues: ConfigIssue[] = [];
  private readonly lineCounter = new LineCounter();
  private readonly doc;

  constructor(
    readonly text: string,
    readonly file: string | undefined,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lineCounter, uniqueKeys: true, prettyErrors: false });
    for (const err of this.doc.errors) {
      const { line, col } = this.lineCounter.linePos(err.pos[0]);
      const message = err.code === "DUPLICATE_KEY" ? "duplicate key" : err.message.split("\n")[0]!;
      const keyPath = formatPath(this.pathAt(err.pos[0]));
      this.issues.push({ file, line, col, path: keyPath, message: `invalid YAML: ${message}` });
    }
    this.value = this.issues.length === 0 ? this.doc.toJS({ maxAliasCount: 100 }) : undefined;
  }

  /**
   * Position of the node at `path`. `atKey` points at the key rather than its value, which reads better
   * for "unknown key" errors. A path that does not exist resolves to its deepest existing ancestor.
   */
  locate(path: readonly PropertyKey[], atKey = false): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let best: Node | null = (node as Node | null) ?? null;
    for (let i = 0; i < path.length; i++) {
      const part = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part),
        );
        if (!pair) break;
        if (last && atKey && isScalar(pair.key)) {
          best = pair.key;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof part === "number") {
        node = node.items[part];
      } else {
        break;
      }
      if (node && typeof node === "object" && "range" in node) best = node as Node;
      else break;
    }
    const offset = best?.range?.[0] ?? 0;
    return this.lineCounter.linePos(offset);
  }

  /** Key path of the deepest node whose source range contains `offset` (for syntax errors). */
  pathAt(offset: number): (string | number)[] {
    const path: (string | number)[] = [];
    let node: unknown = this.doc.contents;
    const contains = (n: unknown) => {
      const r = (n as Node | null)?.range;
      return !!r && offset >= r[0] && offset <= r[2];
    };
    for (let depth = 0; depth < 64; depth++) {
      let next: unknown;
      if (isMap(node)) {
        for (const pair of node.items) {
          const keyStart = (pair.key as Node | null)?.range?.[0] ?? Number.POSITIVE_INFINITY;
          if (
            contains(pair.value) ||
            (offset >= keyStart && !contains(pair.key) && isLastStartingBefore(node.items, pair, offset))
          ) {
            path.push(isScalar(pair.key) ? String(pair.key.value) : "?");
            next = pair.value;
            break;
          }
          if (contains(pair.key)) {
            path.push(isScalar(pair.key) ? String(pair.key.value) : "?");
            return path;
          }
        }
      } else if (isSeq(node)) {
        const idx = node.items.findIndex((item) => contains(item));
        if (idx >= 0) {
          path.push(idx);
          next = node.items[idx];
        }
      }
      if (next === undefined) return path;
      node = next;
    }
    return path;
  }

  issue(path: readonly PropertyKey[], message: string, atKey = false): ConfigIssue {
    const { line, col } = this.locate(path, atKey);
    return { file: this.file, line, col, path: formatPath(path), message };
  }
}

function isLastStartingBefore(
  items: readonly { key: unknown }[],
  pair: { key: unknown },
  offset: number,
): boolean {
  const start = (p: { key: unknown }) => (p.key as Node | null)?.range?.[0] ?? Number.POSITIVE_INFINITY;
  const before = items.filter((p) => start(p) <= offset);
  return before[before.length - 1] === pair;
}
