// Reads what `npm ci` wrote to stderr (the file named by argv[2]) and passes it on, except npm's
// EBADENGINE warnings about dependencies that never run on this Node: several dependencies (ky 2,
// kubernetes-models) declare Node 22 for running on Node, but here every line of the project's code
// and theirs runs on the Bun that npm installs into node_modules, so those warnings ask nothing of
// anyone. They are summed up in one sentence on stdout. Kept verbatim, on stderr: every other
// warning, and EBADENGINE about this project itself (package.json engines: the Node that runs npm
// and ci/*.sh) or about a package with an install script (npm runs that script on this Node).
// Usage: node ci/npm-warnings.mjs NPM_STDERR_FILE   (from the folder holding package-lock.json)
import { readFileSync } from "node:fs";

const lines = readFileSync(process.argv[2], "utf8").split("\n");
if (lines.at(-1) === "") lines.pop();
const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const root = lock.packages?.[""] ?? {};
const scripted = new Set(
  Object.entries(lock.packages ?? {})
    .filter(([path, p]) => path !== "" && p.hasInstallScript)
    // A package's name is its path after the last node_modules/ (a local folder's: its own name).
    .map(([path, p]) => `${p.name ?? (path.includes("node_modules/") ? path.replace(/^.*node_modules\//, "") : path.split("/").pop())}@${p.version}`),
);

const kept = [];
const quiet = new Map(); // name@version -> the Node it declares
const seen = new Set();
for (let i = 0; i < lines.length; i++) {
  if (!/^npm warn EBADENGINE Unsupported engine \{$/.test(lines[i])) {
    kept.push(lines[i]);
    continue;
  }
  const block = [lines[i]];
  while (i + 1 < lines.length && lines[i + 1].startsWith("npm warn EBADENGINE") && !/^npm warn EBADENGINE \}$/.test(block.at(-1))) block.push(lines[++i]);
  const pkg = /package: '([^']+)'/.exec(block.join("\n"))?.[1];
  const node = /required: \{ node: '([^']+)'/.exec(block.join("\n"))?.[1];
  const ours = pkg === `${root.name}@${root.version}` || pkg === root.name;
  if (!pkg || !node || ours || scripted.has(pkg)) {
    if (!seen.has(block.join("\n"))) kept.push(...block); // npm repeats a block per link of a package
    seen.add(block.join("\n"));
  } else quiet.set(pkg, node);
}

if (kept.length) process.stderr.write(`${kept.join("\n")}\n`);
if (quiet.size) {
  const names = [...quiet.keys()].map((p) => p.replace(/@[^@]+$/, "")).sort();
  const wants = [...new Set(quiet.values())].join(", ");
  console.log(
    `npm packages: ${quiet.size} ${quiet.size === 1 ? "dependency" : "dependencies"} (${names.join(", ")}) declare Node ${wants}, which Node ${process.version} does not satisfy; ` +
      "nothing of theirs runs on Node here (the build, the demo and the tests run on the Bun in node_modules), " +
      "so npm's EBADENGINE warnings about them are not shown and need nothing from you (docs/maintainers.md).",
  );
}
