// The only way the generator writes files. A reader (the main container, or a process polling
// the file while the sidecar refreshes it) must never see it missing, empty or partial, so every
// write goes to a temporary file in the same folder, is flushed to disk, given its mode, and
// renamed over the target: rename within a folder is atomic. The temporary file is removed on
// any failure, so no leftover ever holds a token.
import { accessSync, closeSync, fsyncSync, lstatSync, openSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeSync, fchmodSync, constants } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { configError, GhappError, ExitCode } from "../core/errors.ts";

// Messages name the variable, never its value (the user set it; a secret pasted there must not
// reach the logs).

/** The folder exists and is writable, and the path is not something a file cannot replace. */
export function checkOutputFolder(path: string, variable = "OUTPUT_PATH", isDefault = false): void {
  const folder = dirname(path);
  let isDir = false;
  try {
    isDir = statSync(folder).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir && isDefault) {
    // Only the default is named: it is ours, never a value someone typed.
    throw configError(`${variable} is not set, so the token goes to the default ${path}, and ${folder} does not exist: set ${variable} to a file in an existing folder (on a laptop e.g. ${variable}=$PWD/token), or mount a volume at ${folder} (the chart does)`);
  }
  if (!isDir) {
    throw configError(`${variable}: its folder does not exist: mount a volume there (an emptyDir with medium: Memory) or point ${variable} at an existing folder`);
  }
  try {
    accessSync(folder, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw configError(
      `${variable}: its folder is not writable (${code}): ${code === "EROFS" ? "it is on the read-only root filesystem; mount a writable volume (an emptyDir with medium: Memory) there" : "make it writable by this user (UID 65532; fsGroup for a shared volume)"}`,
    );
  }
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(path);
  } catch {
    /* nothing there yet: fine */
  }
  if (existing && !existing.isFile() && !existing.isSymbolicLink()) {
    throw configError(`${variable} is ${existing.isDirectory() ? "a folder" : "not a regular file"}: give the path of a file to write, e.g. /var/run/github/token`);
  }
}

/** The name of a temporary file of `path`; `leftoverTemps` recognises exactly these. */
const tempName = (path: string) => `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`;
const LEFTOVER_AGE_MS = 60_000;

/**
 * Removes temporary files a killed run left beside `path` (SIGKILL, an OOM kill or a node crash
 * leave no chance to clean up). Only this tool's names, and only ones older than a minute, so a
 * write in progress in another process is never disturbed. Returns how many were removed.
 */
export function removeLeftoverTemps(path: string, now: number = Date.now()): number {
  const folder = dirname(path);
  const prefix = `.${basename(path)}.`;
  let removed = 0;
  let names: string[] = [];
  try {
    names = readdirSync(folder);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length))) continue;
    try {
      const st = lstatSync(join(folder, name));
      if (!st.isFile() || now - st.mtimeMs < LEFTOVER_AGE_MS) continue;
      rmSync(join(folder, name), { force: true });
      removed++;
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return removed;
}

export function writeFileAtomically(path: string, content: string | Buffer, mode: number, variable = "OUTPUT_PATH"): void {
  checkOutputFolder(path, variable);
  const folder = dirname(path);
  const temp = join(folder, tempName(path));
  let fd: number | undefined;
  try {
    // O_EXCL: never follow or reuse something already at the temporary name.
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    fchmodSync(fd, mode); // the umask may have narrowed the mode given to open
    const data = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
    try {
      const dfd = openSync(folder, constants.O_RDONLY);
      fsyncSync(dfd); // make the rename itself durable
      closeSync(dfd);
    } catch {
      /* some filesystems do not fsync folders; the rename is still atomic */
    }
  } catch (e) {
    // Clean up without letting a cleanup failure hide the real error.
    try {
      if (fd !== undefined) closeSync(fd);
      rmSync(temp, { force: true });
    } catch {
      /* nothing was written, or nothing more can be done */
    }
    if (e instanceof GhappError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const fix = code === "EACCES" || code === "EPERM" ? "make the folder writable by this user (UID 65532; fsGroup for a shared volume)" : code === "EROFS" ? "mount a writable volume there; the root filesystem is read-only" : "check the volume mounted there";
    throw new GhappError(ExitCode.config, `cannot write ${variable} (${code ?? "error"}): ${code === "EISDIR" ? "it is a folder; give the path of a file" : fix}`);
  }
}

/** Writes the token alone, no newline, with `mode`. */
export function writeTokenAtomically(path: string, token: string, mode: number): void {
  writeFileAtomically(path, token, mode);
}

/** Where a path really leads: symlinks of the folder (and of the file, when there) resolved. */
function realTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** METADATA_PATH must not lead to the token file, through symlinks or `..` (it would overwrite it). */
export function checkNotAliased(outputPath: string, metadataPath: string | null): void {
  if (metadataPath !== null && realTarget(metadataPath) === realTarget(outputPath)) {
    throw configError("METADATA_PATH leads to the same file as OUTPUT_PATH (after resolving symlinks): the metadata would overwrite the token; pick another path or 'none'");
  }
}
