import type { Request, Response } from "express";
import { HttpError } from "./httpError";

/** A list request in ra-data-simple-rest's dialect, validated against what the resource allows. */
export interface ListQuery<F extends string = string> {
  sort: { field: F; order: "asc" | "desc" };
  /** Inclusive bounds, as react-admin sends them. */
  range: { start: number; end: number };
  filter: Record<string, unknown>;
  /** Set when the filter is `{ id: [...] }` (react-admin's getMany). */
  ids: string[] | null;
}

/** Beyond this a client is scraping, not paging: refused, so one request cannot read a whole table. */
export const MAX_PAGE = 1000;

function parseJsonParam(req: Request, name: string): unknown {
  const raw = req.query[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") throw new HttpError(400, `${name} must be given once, as JSON`);
  try {
    return JSON.parse(raw);
  } catch {
    throw new HttpError(400, `${name} is not valid JSON: ${raw.slice(0, 100)}`);
  }
}

export function parseListQuery<F extends string>(
  req: Request,
  options: {
    sortable: readonly F[];
    defaultSort: { field: F; order: "asc" | "desc" };
    filters: readonly string[];
  },
): ListQuery<F> {
  const sortRaw = parseJsonParam(req, "sort");
  let sort = options.defaultSort;
  if (sortRaw !== undefined) {
    if (!Array.isArray(sortRaw) || typeof sortRaw[0] !== "string") {
      throw new HttpError(400, 'sort must look like ["field","ASC"]');
    }
    const [field, order = "ASC"] = sortRaw as [string, unknown];
    if (!(options.sortable as readonly string[]).includes(field)) {
      throw new HttpError(400, `cannot sort by ${field}; sortable: ${options.sortable.join(", ")}`);
    }
    if (order !== "ASC" && order !== "DESC") throw new HttpError(400, "sort order must be ASC or DESC");
    sort = { field: field as F, order: order === "ASC" ? "asc" : "desc" };
  }

  const rangeRaw = parseJsonParam(req, "range");
  let range = { start: 0, end: 24 };
  if (rangeRaw !== undefined) {
    const ok =
      Array.isArray(rangeRaw) &&
      rangeRaw.length === 2 &&
      rangeRaw.every((n) => Number.isInteger(n) && n >= 0) &&
      rangeRaw[1] >= rangeRaw[0];
    if (!ok) throw new HttpError(400, "range must look like [start,end] with 0 <= start <= end");
    const [start, end] = rangeRaw as [number, number];
    if (end - start + 1 > MAX_PAGE) {
      throw new HttpError(
        400,
        `range [${start},${end}] asks for ${end - start + 1} rows; at most ${MAX_PAGE} per request (page through with range)`,
      );
    }
    range = { start, end };
  }

  const filterRaw = parseJsonParam(req, "filter") ?? {};
  if (typeof filterRaw !== "object" || filterRaw === null || Array.isArray(filterRaw)) {
    throw new HttpError(400, "filter must be a JSON object");
  }
  const filter = filterRaw as Record<string, unknown>;
  for (const key of Object.keys(filter)) {
    if (key !== "id" && !options.filters.includes(key)) {
      throw new HttpError(400, `cannot filter by ${key}; filters: id, ${options.filters.join(", ")}`);
    }
  }
  let ids: string[] | null = null;
  if (filter.id !== undefined) {
    const list = Array.isArray(filter.id) ? filter.id : [filter.id];
    if (!list.every((v) => typeof v === "string")) throw new HttpError(400, "filter.id must be strings");
    ids = list as string[];
    if (ids.length > MAX_PAGE) {
      throw new HttpError(400, `filter.id lists ${ids.length} ids; at most ${MAX_PAGE} per request`);
    }
    // react-admin's getMany sends no range: it wants every id it named, not the default page.
    if (rangeRaw === undefined) range = { start: 0, end: Math.max(ids.length - 1, 0) };
  }
  return { sort, range, filter, ids };
}

/** A filter value as a list of strings (react-admin sends either one value or an array). */
export function filterValues(filter: Record<string, unknown>, key: string): string[] | undefined {
  const v = filter[key];
  if (v === undefined || v === null || v === "") return undefined;
  const list = Array.isArray(v) ? v : [v];
  return list.map(String);
}

export function sendList(res: Response, resource: string, query: ListQuery, rows: unknown[], total: number) {
  const { start } = query.range;
  // An empty page still needs a well-formed header; react-admin reads only the total from it.
  const end = rows.length === 0 ? start : start + rows.length - 1;
  res.setHeader("Content-Range", `${resource} ${start}-${end}/${total}`);
  res.json(rows);
}
