import simpleRestProvider from "ra-data-simple-rest";
import { httpClient } from "./api";
import { apiUrl } from "./config";

/** Lists, shows and references speak ra-data-simple-rest; everything else goes through apiRequest. */
export function createDataProvider() {
  return simpleRestProvider(apiUrl(""), httpClient);
}
