import { fileURLToPath } from "node:url";

import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Built into dist/admin/ and served by the gateway at /admin/ (its root is
// dist/): static files only, no server of its own. Every script and style
// is a file of its own, so the gateway's Content-Security-Policy can allow
// 'self' alone.
export default defineConfig({
  base: "/admin/",
  plugins: [react()],
  // The typed client from its source folder (its own dependencies resolve
  // from clients/typescript/node_modules): no package link to keep in sync.
  resolve: {
    alias: { "@shop/client": fileURLToPath(new URL("../clients/typescript/src", import.meta.url)) },
  },
  build: {
    outDir: "dist/admin",
    emptyOutDir: true,
    // No inline module-preload polyfill: it would be an inline script.
    modulePreload: { polyfill: false },
  },
});
