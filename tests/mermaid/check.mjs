// Parses the Mermaid blocks of Markdown files with Mermaid's own parser (under
// jsdom), for the report tests. Installed by scripts/test.sh; exit 1 on any error.
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (blocks.length === 0) { console.error(`${file}: no mermaid block`); failed++; }
  for (const b of blocks) {
    try { await mermaid.parse(b); console.log(`ok ${file}`); }
    catch (e) { console.error(`${file}: ${e.message || e}`); failed++; }
  }
}
process.exit(failed ? 1 : 0);
