import { yaml } from "@codemirror/lang-yaml";
import SendIcon from "@mui/icons-material/Send";
import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Checkbox from "@mui/material/Checkbox";
import CircularProgress from "@mui/material/CircularProgress";
import FormControlLabel from "@mui/material/FormControlLabel";
import Grid from "@mui/material/Grid";
import List from "@mui/material/List";
import ListItemButton from "@mui/material/ListItemButton";
import ListItemText from "@mui/material/ListItemText";
import Stack from "@mui/material/Stack";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import Typography from "@mui/material/Typography";
import CodeMirror, { EditorSelection, type ReactCodeMirrorRef } from "@uiw/react-codemirror";
import { useEffect, useMemo, useRef, useState } from "react";
import { HttpError, Title, useNavigate, useNotify, usePermissions } from "react-admin";
import demoYaml from "../../../../conf/demo.yaml?raw";
import { apiRequest, errorMessage } from "../api";
import { roleAtLeast } from "../authProvider";
import type { ExpandedRun, SubmitResult, ValidationIssue } from "../types";
import { setIssues, yamlDiagnostics } from "./yamlDiagnostics";

const VALIDATE_DELAY_MS = 400;

type Validation =
  | { state: "idle" | "checking" }
  | { state: "valid"; runs: ExpandedRun[] }
  | { state: "invalid"; issues: ValidationIssue[]; error?: string }
  | { state: "unreachable"; error: string };

function issuesOf(err: unknown): { issues: ValidationIssue[]; error?: string } | null {
  if (err instanceof HttpError && err.status === 400) {
    const body = err.body as { error?: string; issues?: ValidationIssue[] } | undefined;
    return { issues: body?.issues ?? [], error: body?.error };
  }
  return null;
}

/** Operator page: edit a sweep file with live validation, preview its runs, submit it. */
export function SubmitPage() {
  const { permissions, isPending } = usePermissions();
  const [text, setText] = useState(demoYaml);
  const [validation, setValidation] = useState<Validation>({ state: "idle" });
  const [fresh, setFresh] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const editor = useRef<ReactCodeMirrorRef>(null);
  const notify = useNotify();
  const navigate = useNavigate();
  const extensions = useMemo(() => [yaml(), yamlDiagnostics()], []);

  // Debounced: validate the text once typing pauses; a newer text aborts the older request.
  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setValidation({ state: "checking" });
      apiRequest<{ runs: ExpandedRun[] }>("/sweeps/validate", {
        method: "POST",
        body: { yaml: text },
        signal: controller.signal,
      })
        .then(({ runs }) => setValidation({ state: "valid", runs }))
        .catch((err: unknown) => {
          if (controller.signal.aborted) return;
          const invalid = issuesOf(err);
          setValidation(
            invalid ? { state: "invalid", ...invalid } : { state: "unreachable", error: errorMessage(err) },
          );
        });
    }, VALIDATE_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text]);

  const issues = validation.state === "invalid" ? validation.issues : [];
  useEffect(() => {
    editor.current?.view?.dispatch({ effects: setIssues.of(issues) });
  }, [issues]);

  const jumpTo = (issue: ValidationIssue) => {
    const view = editor.current?.view;
    if (!view) return;
    const line = view.state.doc.line(Math.min(Math.max(1, issue.line), view.state.doc.lines));
    const pos = line.from + Math.min(Math.max(0, issue.col - 1), line.length);
    view.dispatch({ selection: EditorSelection.cursor(pos), scrollIntoView: true });
    view.focus();
  };

  const submit = async () => {
    setSubmitting(true);
    try {
      const result = await apiRequest<SubmitResult>("/sweeps", {
        method: "POST",
        body: { yaml: text, new: fresh },
      });
      notify(
        result.created
          ? `Sweep submitted: ${result.runs} runs, ${result.jobs} jobs queued`
          : "This exact sweep was submitted before: showing it",
        { type: result.created ? "success" : "info" },
      );
      navigate(`/sweeps/${encodeURIComponent(result.id)}/show`);
    } catch (err) {
      const invalid = issuesOf(err);
      if (invalid) setValidation({ state: "invalid", ...invalid });
      notify(`Not submitted: ${errorMessage(err)}`, { type: "error" });
    } finally {
      setSubmitting(false);
    }
  };

  if (!isPending && !roleAtLeast(permissions, "operator")) {
    return <Alert severity="warning">Submitting sweeps needs the operator role.</Alert>;
  }
  const runs = validation.state === "valid" ? validation.runs : [];
  return (
    <Box sx={{ p: 2 }}>
      <Title title="Submit a sweep" />
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, lg: 7 }}>
          <Card variant="outlined">
            <CardContent>
              <Typography variant="h6" gutterBottom>
                Sweep file (YAML)
              </Typography>
              <Box data-testid="yaml-editor" sx={{ border: 1, borderColor: "divider" }}>
                <CodeMirror
                  ref={editor}
                  value={text}
                  height="460px"
                  extensions={extensions}
                  onChange={setText}
                  aria-label="sweep YAML"
                />
              </Box>
              <Stack direction="row" spacing={2} sx={{ mt: 2, alignItems: "center" }}>
                <Button
                  variant="contained"
                  startIcon={submitting ? <CircularProgress size={16} /> : <SendIcon />}
                  onClick={submit}
                  disabled={submitting || validation.state !== "valid"}
                  data-testid="submit-sweep"
                  aria-label="Submit sweep"
                >
                  Submit
                </Button>
                <FormControlLabel
                  control={<Checkbox checked={fresh} onChange={(e) => setFresh(e.target.checked)} />}
                  label="Run again if already submitted"
                />
                <Box sx={{ flex: 1 }} />
                <ValidationState validation={validation} />
              </Stack>
            </CardContent>
          </Card>
        </Grid>
        <Grid size={{ xs: 12, lg: 5 }}>
          {validation.state === "invalid" && (
            <Card variant="outlined" sx={{ mb: 2 }} data-testid="yaml-issues">
              <CardContent>
                <Typography variant="h6" color="error">
                  {validation.error ?? "The sweep file is not valid"}
                </Typography>
                <List dense>
                  {validation.issues.map((issue) => (
                    <ListItemButton
                      key={`${issue.line}:${issue.col}:${issue.message}`}
                      onClick={() => jumpTo(issue)}
                    >
                      <ListItemText
                        primary={issue.message}
                        secondary={`line ${issue.line}, column ${issue.col}${issue.path ? ` · ${issue.path}` : ""}`}
                      />
                    </ListItemButton>
                  ))}
                </List>
              </CardContent>
            </Card>
          )}
          {validation.state === "unreachable" && (
            <Alert severity="error">Cannot validate: {validation.error}</Alert>
          )}
          <Card variant="outlined">
            <CardContent>
              <Typography variant="h6" gutterBottom>
                Runs this sweep expands to ({runs.length})
              </Typography>
              <Table size="small" data-testid="expanded-runs">
                <TableHead>
                  <TableRow>
                    <TableCell>run</TableCell>
                    <TableCell>model</TableCell>
                    <TableCell>weighting</TableCell>
                    <TableCell>stage</TableCell>
                    <TableCell>after</TableCell>
                    <TableCell>config</TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {runs.map((r) => (
                    <TableRow key={r.key} data-testid="expanded-run">
                      <TableCell sx={{ fontFamily: "monospace" }}>{r.key}</TableCell>
                      <TableCell>{r.model}</TableCell>
                      <TableCell>{r.classWeighting}</TableCell>
                      <TableCell>{r.stage}</TableCell>
                      <TableCell sx={{ fontFamily: "monospace" }}>{r.dependsOn ?? ""}</TableCell>
                      <TableCell sx={{ fontFamily: "monospace" }}>{r.configHash.slice(0, 8)}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </CardContent>
          </Card>
        </Grid>
      </Grid>
    </Box>
  );
}

function ValidationState({ validation }: { validation: Validation }) {
  switch (validation.state) {
    case "checking":
      return <Typography color="text.secondary">validating…</Typography>;
    case "valid":
      return (
        <Typography color="success.main" data-testid="yaml-valid" noWrap>
          valid · {validation.runs.length} runs
        </Typography>
      );
    case "invalid":
      return (
        <Typography color="error" data-testid="yaml-invalid" noWrap>
          {validation.issues.length} problem{validation.issues.length === 1 ? "" : "s"}
        </Typography>
      );
    default:
      return null;
  }
}
