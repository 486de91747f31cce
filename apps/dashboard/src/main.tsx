import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { loadRuntimeConfig } from "./config";

const root = createRoot(document.getElementById("root")!);
loadRuntimeConfig().then(() =>
  root.render(
    <StrictMode>
      <App />
    </StrictMode>,
  ),
);
