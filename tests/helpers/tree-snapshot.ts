// A folder tree as text, to show that running something changed nothing in it (the images' read-only
// roots in tests/container/).
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Every path in the tree with its type, mode, size and mtime. */
export function treeSnapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      const st = lstatSync(p);
      out.push(`${p.slice(dir.length)} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}
