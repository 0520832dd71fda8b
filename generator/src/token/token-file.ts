// The only way the generator writes files. A reader (the main container, or a process polling
// the file while the sidecar refreshes it) must never see it missing, empty or partial, so every
// write goes to a temporary file in the same folder, is flushed to disk, given its mode, and
// renamed over the target: rename within a folder is atomic. The temporary file is removed on
// any failure, so no leftover ever holds a token.
import { accessSync, closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync, fchmodSync, constants } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { configError, GhappError, ExitCode } from "../core/errors.ts";

export function checkOutputFolder(path: string, variable = "OUTPUT_PATH"): void {
  const folder = dirname(path);
  let isDir = false;
  try {
    isDir = statSync(folder).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) {
    throw configError(`${variable} ${path}: the folder ${folder} does not exist: mount a volume there (an emptyDir with medium: Memory) or point ${variable} at an existing folder`);
  }
  try {
    accessSync(folder, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw configError(
      `${variable} ${path}: the folder ${folder} is not writable (${code}): ${code === "EROFS" ? "it is on the read-only root filesystem; mount a writable volume (an emptyDir with medium: Memory) there" : "make it writable by this user (UID 65532; fsGroup for a shared volume)"}`,
    );
  }
}

export function writeFileAtomically(path: string, content: string | Buffer, mode: number, variable = "OUTPUT_PATH"): void {
  checkOutputFolder(path, variable);
  const folder = dirname(path);
  const temp = join(folder, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
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
    throw new GhappError(ExitCode.config, `cannot write ${variable} ${path} (${code ?? "error"}): ${fix}`);
  }
}

/** Writes the token alone, no newline, with `mode`. */
export function writeTokenAtomically(path: string, token: string, mode: number): void {
  writeFileAtomically(path, token, mode);
}
