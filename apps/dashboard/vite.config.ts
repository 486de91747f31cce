import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Relative asset URLs let one build be served from any path (by the API, a CDN or a test server).
export default defineConfig({
  base: "./",
  plugins: [react()],
  server: {
    port: 5173,
    // In `pnpm dev`, same-origin /api calls go to the local API (`pnpm api`, PORT 4000).
    proxy: { "/api": { target: process.env.XNN_API_PROXY ?? "http://127.0.0.1:4000", changeOrigin: true } },
  },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2500 },
});
