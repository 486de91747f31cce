import { useListContext, useRecordContext } from "react-admin";

/** 1-based position of the record in the sorted, paginated list. */
export function RankField(_props: { label?: string }) {
  const record = useRecordContext();
  const { data, page, perPage } = useListContext();
  if (!record || !data) return null;
  const index = data.findIndex((r) => r.id === record.id);
  return <span data-testid="leaderboard-rank">{(page - 1) * perPage + index + 1}</span>;
}
