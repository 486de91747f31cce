import Box from "@mui/material/Box";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Grid from "@mui/material/Grid";
import Stack from "@mui/material/Stack";
import Typography from "@mui/material/Typography";
import type { ReactNode } from "react";
import { Link, Show, TopToolbar, useGetOne, useRecordContext } from "react-admin";
import { fmt, fmtBytes, fmtDuration, formatParams } from "../common/format";
import { ProductionBadge } from "../common/ProductionBadge";
import { StatusChip } from "../common/StatusChip";
import { useLiveRefresh, useLiveTick } from "../live";
import type { EpochMetric, RunDetail, SweepDetail } from "../types";
import { useApiQuery } from "../useApiQuery";
import { EpochCurves } from "./EpochCurves";
import { PromoteRunButton } from "./PromoteRunButton";
import { RunEvaluation } from "./RunEvaluation";
import { RunExplanationQuality } from "./RunExplanationQuality";

const ACTIVE = new Set(["queued", "running"]);

function useSweepTask(sweepId: string | undefined) {
  const { data } = useGetOne<SweepDetail>("sweeps", { id: sweepId ?? "" }, { enabled: !!sweepId });
  return data?.task;
}

function RunActions() {
  const run = useRecordContext<RunDetail>();
  const task = useSweepTask(run?.sweepId);
  return (
    <TopToolbar>
      <PromoteRunButton task={task} />
    </TopToolbar>
  );
}

function Section({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  return (
    <Card variant="outlined" sx={{ mb: 2 }} data-testid={testId}>
      <CardContent>
        <Typography variant="h6" gutterBottom>
          {title}
        </Typography>
        {children}
      </CardContent>
    </Card>
  );
}

function Facts({ rows }: { rows: Array<[string, ReactNode]> }) {
  return (
    <Box
      component="dl"
      sx={{ display: "grid", gridTemplateColumns: "max-content 1fr", columnGap: 2, rowGap: 0.5, m: 0 }}
    >
      {rows.map(([k, v]) => (
        <Box key={k} sx={{ display: "contents" }}>
          <Typography component="dt" color="text.secondary">
            {k}
          </Typography>
          <Typography component="dd" sx={{ m: 0, wordBreak: "break-all" }}>
            {v}
          </Typography>
        </Box>
      ))}
    </Box>
  );
}

function RunBody() {
  const run = useRecordContext<RunDetail>();
  const live = !!run && ACTIVE.has(run.status);
  useLiveRefresh(live, run?.sweepId);
  const tick = useLiveTick(live);
  const { data: metrics } = useApiQuery<EpochMetric[]>(
    run ? `/runs/${encodeURIComponent(run.id)}/metrics` : null,
    tick,
  );
  if (!run) return null;
  const ckpt = run.checkpoint;
  return (
    <Box sx={{ p: 2 }}>
      <Stack direction="row" spacing={2} sx={{ mb: 2, alignItems: "center", flexWrap: "wrap" }} useFlexGap>
        <Typography variant="h5" sx={{ fontFamily: "monospace" }} data-testid="run-title">
          {run.key}
        </Typography>
        <StatusChip status={run.status} pruned={run.pruned} />
        {run.isProduction && <ProductionBadge />}
        <Typography color="text.secondary">
          sweep <Link to={`/sweeps/${encodeURIComponent(run.sweepId)}/show`}>{run.sweepId}</Link>
        </Typography>
        <Typography>
          test F1 <b data-testid="run-test-f1">{fmt(run.testF1)}</b> · best val F1 <b>{fmt(run.bestValF1)}</b>
        </Typography>
      </Stack>
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, md: 6 }}>
          <Section title="Run">
            <Facts
              rows={[
                ["model", run.model],
                ["class weighting", run.classWeighting],
                ["stage", run.stage],
                [
                  "fine-tuned from",
                  run.feRunId ? (
                    <Link key="fe" to={`/runs/${encodeURIComponent(run.feRunId)}/show`}>
                      {run.feRunId}
                    </Link>
                  ) : (
                    "–"
                  ),
                ],
                [
                  "epochs",
                  `${run.epochsDone}${run.epochs ? ` of ${run.epochs}` : ""} (best ${run.bestEpoch ?? "–"})`,
                ],
                ["best val loss", fmt(run.bestValLoss, 4)],
                ["attempt", String(run.attempt)],
                ["queued", new Date(run.queuedAt).toLocaleString()],
                ["duration", fmtDuration(run.startedAt, run.finishedAt)],
                ["error", run.error ?? "–"],
                ...(run.pruned ? ([["pruned", run.pruned.reason]] as [string, string][]) : []),
                ...(run.params
                  ? ([["point", `#${run.trial} ${formatParams(run.params)}`]] as [string, string][])
                  : []),
              ]}
            />
          </Section>
        </Grid>
        <Grid size={{ xs: 12, md: 6 }}>
          <Section title="Checkpoint and worker" testId="run-checkpoint">
            <Facts
              rows={[
                ["checkpoint", ckpt?.uri ?? "–"],
                ["sha256", ckpt ? <code key="sha">{ckpt.sha256.slice(0, 16)}…</code> : "–"],
                ["size", fmtBytes(ckpt?.sizeBytes)],
                ["epoch / val F1", ckpt ? `${ckpt.epoch} / ${fmt(ckpt.valF1)}` : "–"],
                ["worker", run.worker ? `${run.worker.host} (${run.worker.id})` : (run.workerId ?? "–")],
                ["backend", run.worker?.backend ?? "–"],
              ]}
            />
          </Section>
        </Grid>
      </Grid>
      <Section title="Training curves (train vs val)">
        <EpochCurves metrics={metrics ?? []} />
      </Section>
      <Section title="Evaluation" testId="run-evaluation">
        <RunEvaluation run={run} />
      </Section>
      {(run.explanation || run.status === "succeeded") && (
        <Section title="Explanation quality (test probe set)" testId="run-explanation">
          <RunExplanationQuality run={run} />
        </Section>
      )}
      <Section title="Config">
        <Box
          component="pre"
          sx={{ m: 0, p: 2, bgcolor: "grey.100", overflow: "auto", fontSize: 13, maxHeight: 480 }}
        >
          {JSON.stringify(run.config, null, 2)}
        </Box>
      </Section>
    </Box>
  );
}

export function RunShow() {
  return (
    <Show<RunDetail> actions={<RunActions />} component="div">
      <RunBody />
    </Show>
  );
}
