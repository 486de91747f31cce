import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

const h = useApiHarness({
  seed: ({ sql }) => seedRuns(sql, { sweepId: "live", task: "xray", runs: 3, statusOf: () => "queued" }),
});

/** Opens the SSE stream and collects parsed events until `until` is satisfied. */
function openStream(port: number, token: string) {
  const events: { event: string; data: unknown }[] = [];
  const waiters: (() => void)[] = [];
  let buffer = "";
  const req = http.get(`http://127.0.0.1:${port}/api/events?token=${token}`, (res) => {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buffer += chunk;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
        for (const w of waiters.splice(0)) w();
        end = buffer.indexOf("\n\n");
      }
    });
  });
  const waitFor = async (pred: () => boolean) => {
    while (!pred()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { events, waitFor, close: () => req.destroy() };
}

describe("GET /api/events", () => {
  it("streams the ids of runs whose status or progress changed (Postgres trigger + LISTEN)", async () => {
    const listening = h.server.listen(0, "127.0.0.1");
    await new Promise((resolve) => listening.once("listening", resolve));
    const { port } = listening.address() as AddressInfo;
    const stream = openStream(port, h.tokens.viewer);
    try {
      await stream.waitFor(() => stream.events.some((e) => e.event === "ready"));
      const id = seedRunId("live", 1);
      await h.prisma.run.update({ where: { id }, data: { status: "running" } });
      await h.prisma.run.update({ where: { id }, data: { epochsDone: 1 } });
      await stream.waitFor(() => stream.events.some((e) => e.event === "runs"));
      const ids = stream.events
        .filter((e) => e.event === "runs")
        .flatMap((e) => (e.data as { ids: string[] }).ids);
      expect(new Set(ids)).toEqual(new Set([id]));
      // A worker may also NOTIFY by hand; that reaches the stream the same way.
      await h.sql`SELECT pg_notify('xnn_runs', ${seedRunId("live", 2)})`;
      await stream.waitFor(() =>
        stream.events.some(
          (e) => e.event === "runs" && (e.data as { ids: string[] }).ids.includes(seedRunId("live", 2)),
        ),
      );
    } finally {
      stream.close();
      await new Promise((resolve) => listening.close(resolve));
    }
  });
});
