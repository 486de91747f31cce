import simpleRestProvider from "ra-data-simple-rest";
import type { DataProvider, GetManyParams } from "react-admin";
import { httpClient } from "./api";
import { apiUrl } from "./config";

/** The API refuses a `range` of more rows than this (apps/scheduler simpleRest.ts MAX_PAGE). */
export const MAX_PAGE = 1000;

function clampPagination<P extends { pagination?: { page: number; perPage: number } }>(params: P): P {
  const pagination = params.pagination;
  // A perPage from the URL (?perPage=5000) would otherwise reach the API and be refused.
  if (!pagination || pagination.perPage <= MAX_PAGE) return params;
  return { ...params, pagination: { ...pagination, perPage: MAX_PAGE } };
}

/**
 * Lists, shows and references speak ra-data-simple-rest; everything else goes through apiRequest.
 * No request asks for more than MAX_PAGE rows: list pages are capped and getMany asks in chunks.
 */
export function createDataProvider(): DataProvider {
  const base = simpleRestProvider(apiUrl(""), httpClient);
  return {
    ...base,
    getList: (resource, params) => base.getList(resource, clampPagination(params)),
    getManyReference: (resource, params) => base.getManyReference(resource, clampPagination(params)),
    async getMany(resource, params: GetManyParams) {
      if (params.ids.length <= MAX_PAGE) return base.getMany(resource, params);
      const data = [];
      for (let i = 0; i < params.ids.length; i += MAX_PAGE) {
        const chunk = await base.getMany(resource, { ...params, ids: params.ids.slice(i, i + MAX_PAGE) });
        data.push(...chunk.data);
      }
      return { data };
    },
  };
}
