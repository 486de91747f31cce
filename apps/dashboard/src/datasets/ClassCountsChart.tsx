import { memo, useMemo } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

const SPLIT_COLORS: Record<string, string> = { train: "#1565c0", val: "#6a1b9a", test: "#2e7d32" };

/** Images per class, one bar per split: the class balance a sweep trains and is judged on. */
export const ClassCountsChart = memo(function ClassCountsChart({
  classNames,
  classCounts,
}: {
  classNames: string[];
  classCounts: Record<string, Record<string, number>>;
}) {
  const splits = ["train", "val", "test"].filter((s) => classCounts[s]);
  const data = useMemo(
    () =>
      classNames.map((name) => ({
        name,
        ...Object.fromEntries(splits.map((s) => [s, classCounts[s]?.[name] ?? 0])),
      })),
    [classNames, classCounts, splits],
  );
  return (
    <div data-testid="class-counts" style={{ width: "100%", height: 240 }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="name" />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Legend verticalAlign="top" />
          {splits.map((s) => (
            <Bar key={s} dataKey={s} fill={SPLIT_COLORS[s] ?? "#888"} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
});
