import type { AuthProvider } from "react-admin";
import { HttpError } from "react-admin";
import { apiRequest, getToken, setToken } from "./api";
import type { Me, Role } from "./types";

let me: Me | null = null;

async function fetchMe(): Promise<Me> {
  me = await apiRequest<Me>("/me");
  return me;
}

/** Token login: the token is checked against GET /api/me and kept in localStorage. */
export const authProvider: AuthProvider = {
  async login({ token }: { token: string }) {
    setToken(token.trim());
    try {
      await fetchMe();
    } catch (err) {
      setToken(null);
      me = null;
      if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
        throw new Error("This token was not accepted");
      }
      throw err;
    }
  },
  async logout() {
    setToken(null);
    me = null;
  },
  async checkAuth() {
    if (!getToken()) throw new Error("not logged in");
    if (!me) await fetchMe();
  },
  async checkError(error: { status?: number }) {
    if (error?.status === 401) {
      setToken(null);
      me = null;
      throw new Error("session expired");
    }
  },
  async getPermissions() {
    if (!getToken()) return undefined;
    return (me ?? (await fetchMe())).role;
  },
  async getIdentity() {
    const who = me ?? (await fetchMe());
    return { id: who.name, fullName: `${who.name} (${who.role})` };
  },
};

const ORDER: Role[] = ["viewer", "operator", "admin"];

export function roleAtLeast(role: unknown, needed: Role): boolean {
  return ORDER.indexOf(role as Role) >= ORDER.indexOf(needed);
}
