// Reads what the dynamic loader needs to start an executable: its program interpreter
// (PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2) and the shared libraries it names (DT_NEEDED).
// That is all the image build needs to know which glibc files to copy, for either architecture,
// without running the (possibly foreign-architecture) executable or needing binutils.
// Only 64-bit little-endian ELF: what Bun ships for linux/amd64 and linux/arm64.
// Format: https://refspecs.linuxfoundation.org/elf/gabi4+/ch5.pheader.html and ch5.dynamic.html
import { closeSync, openSync, readSync } from "node:fs";

export interface ElfRuntime {
  /** e.g. "x86_64", "aarch64" */
  machine: string;
  /** absolute path of the program interpreter, or null for a static executable or a library */
  interpreter: string | null;
  /** DT_NEEDED entries, in order */
  needed: string[];
}

const MACHINES: Record<number, string> = { 0x3e: "x86_64", 0xb7: "aarch64" };
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;

export function readElfRuntime(path: string): ElfRuntime {
  const fd = openSync(path, "r");
  try {
    const readUpTo = (offset: number | bigint, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      return buf.subarray(0, readSync(fd, buf, 0, length, Number(offset)));
    };
    const read = (offset: number | bigint, length: number): Buffer => {
      const buf = readUpTo(offset, length);
      if (buf.length !== length) throw new Error(`${path}: truncated ELF file (wanted ${length} bytes at ${offset})`);
      return buf;
    };
    const header = read(0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF file`);
    if (header[4] !== 2 || header[5] !== 1) throw new Error(`${path}: only 64-bit little-endian ELF is supported`);
    const machine = MACHINES[header.readUInt16LE(0x12)] ?? `machine-${header.readUInt16LE(0x12)}`;
    const phoff = header.readBigUInt64LE(0x20);
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);

    const segments = Array.from({ length: phnum }, (_, i) => {
      const ph = read(phoff + BigInt(i * phentsize), 56);
      return { type: ph.readUInt32LE(0), offset: ph.readBigUInt64LE(8), vaddr: ph.readBigUInt64LE(16), filesz: ph.readBigUInt64LE(32) };
    });

    const interp = segments.find((s) => s.type === PT_INTERP);
    const interpreter = interp ? read(interp.offset, Number(interp.filesz)).toString("latin1").replace(/\0.*$/s, "") : null;

    const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
    if (!dynamic) return { machine, interpreter, needed: [] };
    const table = read(dynamic.offset, Number(dynamic.filesz));
    const neededOffsets: bigint[] = [];
    let strtabAddr: bigint | null = null;
    for (let at = 0; at + 16 <= table.length; at += 16) {
      const tag = table.readBigInt64LE(at);
      const value = table.readBigUInt64LE(at + 8);
      if (tag === DT_NULL) break;
      if (tag === DT_NEEDED) neededOffsets.push(value);
      if (tag === DT_STRTAB) strtabAddr = value;
    }
    if (neededOffsets.length === 0) return { machine, interpreter, needed: [] };
    if (strtabAddr === null) throw new Error(`${path}: DT_NEEDED without DT_STRTAB`);
    // DT_STRTAB is a virtual address: find the loaded segment that holds it to get a file offset.
    const load = segments.find((s) => s.type === PT_LOAD && s.vaddr <= strtabAddr! && strtabAddr! < s.vaddr + s.filesz);
    if (!load) throw new Error(`${path}: DT_STRTAB is outside every loaded segment`);
    const strtab = strtabAddr - load.vaddr + load.offset;
    const needed = neededOffsets.map((off) => {
      const bytes = readUpTo(strtab + off, 256);
      const end = bytes.indexOf(0);
      if (end < 0) throw new Error(`${path}: unterminated DT_NEEDED name`);
      return bytes.subarray(0, end).toString("latin1");
    });
    return { machine, interpreter, needed };
  } finally {
    closeSync(fd);
  }
}
