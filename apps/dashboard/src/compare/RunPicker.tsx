import Autocomplete from "@mui/material/Autocomplete";
import TextField from "@mui/material/TextField";
import { useEffect, useState } from "react";
import { useDataProvider } from "react-admin";
import type { RunRow } from "../types";

/** Adds runs by searching all of them on the server (there may be 10,000). */
export function RunPicker({ onAdd, exclude }: { onAdd: (ids: string[]) => void; exclude: Set<string> }) {
  const dataProvider = useDataProvider();
  const [input, setInput] = useState("");
  const [options, setOptions] = useState<RunRow[]>([]);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    let cancelled = false;
    const timer = setTimeout(() => {
      setLoading(true);
      dataProvider
        .getList<RunRow>("runs", {
          filter: input ? { q: input } : {},
          sort: { field: "testF1", order: "DESC" },
          pagination: { page: 1, perPage: 20 },
        })
        .then(({ data }) => !cancelled && setOptions(data))
        .catch(() => !cancelled && setOptions([]))
        .finally(() => !cancelled && setLoading(false));
    }, 250);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [dataProvider, input]);

  return (
    <Autocomplete<RunRow>
      sx={{ width: 380 }}
      size="small"
      options={options.filter((o) => !exclude.has(o.id))}
      loading={loading}
      filterOptions={(x) => x}
      getOptionLabel={(o) =>
        `${o.key} · ${o.sweepId}${o.testF1 !== null ? ` · F1 ${o.testF1.toFixed(3)}` : ""}`
      }
      onInputChange={(_, v) => setInput(v)}
      onChange={(_, v) => v && onAdd([v.id])}
      value={null}
      renderInput={(params) => <TextField {...params} label="Add a run" placeholder="search runs" />}
    />
  );
}
