// Worker-thread entry: threads do not inherit tsx's loader, so register it before loading TypeScript.
import { register } from "tsx/esm/api";

register();
await import("./explainThread.ts");
