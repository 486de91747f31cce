import type { Request } from "express";
import { HttpError } from "./httpError";

/** A named path parameter as one string (express 5's types allow arrays for wildcard routes). */
export function pathParam(req: Request, name: string): string {
  const value = req.params[name];
  if (typeof value !== "string" || value === "") throw new HttpError(400, `missing path parameter ${name}`);
  return value;
}
