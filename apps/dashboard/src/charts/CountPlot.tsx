import { memo, useMemo } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { ClassMetrics } from "../types";

/** True positives, false positives and false negatives per class: the study's "CM count plot". */
export const CountPlot = memo(function CountPlot({
  perClass,
  classNames,
  height = 260,
}: {
  perClass: Record<string, ClassMetrics>;
  /** Display order (the model's class order); JSON objects from Postgres come back key-sorted. */
  classNames: string[];
  height?: number;
}) {
  const data = useMemo(
    () =>
      classNames.flatMap((name) => {
        const m = perClass[name];
        return m ? [{ name, TP: m.tp, FP: m.fp, FN: m.fn }] : [];
      }),
    [perClass, classNames],
  );
  return (
    <div data-testid="count-plot" style={{ width: "100%", height }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="name" />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Legend verticalAlign="top" itemSorter={null} />
          <Bar dataKey="TP" fill="#2e7d32" isAnimationActive={false} />
          <Bar dataKey="FP" fill="#ed6c02" isAnimationActive={false} />
          <Bar dataKey="FN" fill="#d32f2f" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
});
