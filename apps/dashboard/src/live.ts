import type { RunsChange } from "@xnn/shared/records";
import { useEffect, useRef, useState } from "react";
import { useRefresh } from "react-admin";
import { getToken } from "./api";
import { apiUrl } from "./config";

// What a `runs` server-sent event may carry (ids absent when polling); the dashboard only needs to
// know that something changed.
export type { RunsChange };

type Listener = (change: RunsChange) => void;

const POLL_MS = 2000;
const listeners = new Set<Listener>();
let source: EventSource | null = null;
let pollTimer: ReturnType<typeof setInterval> | null = null;

function notify(change: RunsChange) {
  for (const l of listeners) l(change);
}

function startPolling() {
  if (!pollTimer) pollTimer = setInterval(() => notify({}), POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

/** One EventSource for the whole tab; while it is not open, fall back to polling. */
function connect() {
  if (source || typeof EventSource === "undefined") {
    if (!source) startPolling();
    return;
  }
  const token = getToken() ?? "";
  source = new EventSource(apiUrl(`/events?token=${encodeURIComponent(token)}`));
  startPolling();
  source.onopen = () => stopPolling();
  source.addEventListener("runs", (ev) => {
    let change: RunsChange = {};
    try {
      change = JSON.parse((ev as MessageEvent<string>).data) as RunsChange;
    } catch {
      // A bare "something changed" event.
    }
    notify(change);
  });
  source.onerror = () => {
    // EventSource retries on its own; poll until it is back (or forever if the server refused it).
    startPolling();
  };
}

function disconnect() {
  source?.close();
  source = null;
  stopPolling();
}

/** Calls `onChange` (at most once per `minIntervalMs`) whenever runs change on the server. */
export function useRunsChanged(onChange: Listener, enabled = true, minIntervalMs = 1000) {
  const latest = useRef(onChange);
  latest.current = onChange;
  useEffect(() => {
    if (!enabled) return;
    let last = 0;
    let pending: ReturnType<typeof setTimeout> | null = null;
    const listener: Listener = (change) => {
      const wait = last + minIntervalMs - Date.now();
      if (wait <= 0) {
        last = Date.now();
        latest.current(change);
      } else if (!pending) {
        pending = setTimeout(() => {
          pending = null;
          last = Date.now();
          latest.current(change);
        }, wait);
      }
    };
    listeners.add(listener);
    connect();
    return () => {
      listeners.delete(listener);
      if (pending) clearTimeout(pending);
      if (listeners.size === 0) disconnect();
    };
  }, [enabled, minIntervalMs]);
}

/** Refetches react-admin queries on screen when runs of `sweepId` (or any, if omitted) change. */
export function useLiveRefresh(enabled: boolean, sweepId?: string) {
  const refresh = useRefresh();
  useRunsChanged((change) => {
    if (!sweepId || !change.ids || change.ids.some((id) => id.startsWith(`${sweepId}.`))) refresh();
  }, enabled);
}

/** A counter that increases when runs change: a dependency for custom fetches that should stay live. */
export function useLiveTick(enabled: boolean): number {
  const [tick, setTick] = useState(0);
  useRunsChanged(() => setTick((t) => t + 1), enabled);
  return tick;
}
