import {
  Decoration,
  type DecorationSet,
  EditorView,
  type Extension,
  GutterMarker,
  gutter,
  RangeSetBuilder,
  StateEffect,
  StateField,
  type Text,
} from "@uiw/react-codemirror";
import type { ValidationIssue } from "../types";

/** Replaces the issues shown in the editor (from the last validation). */
export const setIssues = StateEffect.define<ValidationIssue[]>();

const issuesField = StateField.define<ValidationIssue[]>({
  create: () => [],
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setIssues)) return e.value;
    return value;
  },
});

/** Document offsets of an issue: from its column to the end of the word there (or one character). */
function issueRange(doc: Text, issue: ValidationIssue): { line: number; from: number; to: number } {
  const lineNo = Math.min(Math.max(1, issue.line || 1), doc.lines);
  const line = doc.line(lineNo);
  const from = line.from + Math.min(Math.max(0, (issue.col || 1) - 1), line.length);
  const rest = doc.sliceString(from, line.to);
  const word = rest.match(/^\S+/)?.[0].length ?? 0;
  const to = word > 0 ? from + word : Math.min(line.to, from + 1);
  return { line: lineNo, from, to: Math.max(to, from) };
}

const underline = (message: string) =>
  Decoration.mark({
    class: "cm-xnn-issue",
    attributes: { title: message, "data-testid": "yaml-issue-mark" },
  });
const errorLine = Decoration.line({ class: "cm-xnn-issue-line" });

const decorationsField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(decos, tr) {
    const effect = tr.effects.find((e) => e.is(setIssues));
    if (!effect) return decos.map(tr.changes);
    const ranges = (effect.value as ValidationIssue[])
      .map((issue) => ({ issue, ...issueRange(tr.state.doc, issue) }))
      .sort((a, b) => a.from - b.from);
    const builder = new RangeSetBuilder<Decoration>();
    const linesDone = new Set<number>();
    // RangeSetBuilder needs ranges in order, line decorations first at each position.
    for (const r of ranges) {
      const lineStart = tr.state.doc.line(r.line).from;
      if (!linesDone.has(r.line)) {
        linesDone.add(r.line);
        builder.add(lineStart, lineStart, errorLine);
      }
      if (r.to > r.from) builder.add(r.from, r.to, underline(r.issue.message));
    }
    return builder.finish();
  },
  provide: (f) => EditorView.decorations.from(f),
});

class IssueMarker extends GutterMarker {
  constructor(readonly messages: string[]) {
    super();
  }
  override eq(other: GutterMarker): boolean {
    return other instanceof IssueMarker && other.messages.join("\n") === this.messages.join("\n");
  }
  override toDOM() {
    const el = document.createElement("span");
    el.textContent = "●";
    el.className = "cm-xnn-issue-marker";
    el.title = this.messages.join("\n");
    // The invisible spacer marker (no messages) sizes the gutter; only real markers are test targets.
    if (this.messages.length > 0) el.setAttribute("data-testid", "yaml-issue-gutter");
    return el;
  }
}

const issueGutter = gutter({
  class: "cm-xnn-issue-gutter",
  lineMarker(view, block) {
    const lineNo = view.state.doc.lineAt(block.from).number;
    const messages = view.state
      .field(issuesField)
      .filter((i) => Math.min(Math.max(1, i.line || 1), view.state.doc.lines) === lineNo)
      .map((i) => `${i.line}:${i.col} ${i.message}`);
    return messages.length > 0 ? new IssueMarker(messages) : null;
  },
  lineMarkerChange: (update) => update.transactions.some((tr) => tr.effects.some((e) => e.is(setIssues))),
  initialSpacer: () => new IssueMarker([]),
});

const theme = EditorView.baseTheme({
  ".cm-xnn-issue": { textDecoration: "underline wavy #d32f2f", textUnderlineOffset: "3px" },
  ".cm-xnn-issue-line": { backgroundColor: "rgba(211, 47, 47, 0.07)" },
  ".cm-xnn-issue-marker": { color: "#d32f2f", cursor: "help", padding: "0 3px" },
  ".cm-xnn-issue-gutter": { minWidth: "14px" },
});

/** Validation issues at their line:col: a gutter dot, a tinted line and a wavy underline with the message. */
export function yamlDiagnostics(): Extension {
  return [issuesField, decorationsField, issueGutter, theme];
}
