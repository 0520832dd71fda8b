// The one pattern compiler every policy uses (label patterns today): RE2 semantics through re2js,
// so matching takes time linear in the label whatever the pattern, and whole-value anchoring that
// no pattern can escape.
//
// Why not JavaScript's RegExp with a guard: a hand-written "no nested quantifiers" check lets
// `(a|a)*b` and `.*.*.*.*.*.*.*x` through, and one provision then blocks the event loop for seconds
// to a minute (catastrophic backtracking). RE2 has no backtracking, and refuses what would need it
// (back-references, look-around) at compile time.
//
// Why the pattern is compiled alone first: wrapping it as `^(?:p)$` does not anchor a pattern that
// closes the group itself. `team-x)|(?:.*` becomes `^(?:team-x)|(?:.*)$`, whose second branch
// matches every label (octo-sts shipped that bug until its PR #1643). A pattern that does not
// compile on its own is refused, so the wrapper's group is always the pattern's whole.
import { RE2JS } from "re2js";

export const MAX_PATTERN_LENGTH = 200;
/**
 * RE2 instructions one pattern may compile to. Linear time is linear in the program too: a short
 * `(?:a?){1000}` compiles to 2,002 instructions and checks 100 labels in about 100 ms. Ordinary label
 * patterns need 10 to 40 (`[a-z0-9-]{1,100}` about 200); this bound keeps a 100-label check in
 * milliseconds. A policy's patterns together are held to MAX_PATTERNS_PROGRAM_SIZE (policy.ts).
 */
export const MAX_PROGRAM_SIZE = 300;

export class PatternError extends Error {
  override readonly name = "PatternError";
}

/** A compiled pattern: `matches` is true when the whole value matches (case-insensitively unless asked otherwise); `size` is its RE2 program's. */
export interface CompiledPattern {
  matches(value: string): boolean;
  size: number;
}

export interface PatternOptions {
  /**
   * Labels compare case-insensitively (GitHub's runner labels do), the default. Claims do not
   * (trust-policy.ts): a branch `MAIN` is another branch than `main`.
   */
  caseInsensitive?: boolean;
}

export function compilePattern(source: string, options: PatternOptions = {}): CompiledPattern {
  if (source.length === 0 || source.length > MAX_PATTERN_LENGTH) throw new PatternError(`a pattern is 1..${MAX_PATTERN_LENGTH} characters`);
  let re: RE2JS;
  try {
    RE2JS.compile(source);
    re = RE2JS.compile(`(?:${source})`, options.caseInsensitive === false ? 0 : RE2JS.CASE_INSENSITIVE);
  } catch (e) {
    // re2js's message names the construct ("invalid or unsupported Perl syntax: `(?=`"); it quotes
    // only the operator's own text, whose size the length bound above limits.
    const why = e instanceof Error ? e.message.replace(/^error parsing regexp: /, "") : "";
    throw new PatternError(`is not a regular expression the broker accepts (RE2 syntax: no back-references or look-around)${why ? `: ${why.slice(0, 120)}` : ""}`);
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) throw new PatternError(`compiles to ${size} RE2 instructions, more than ${MAX_PROGRAM_SIZE}: large repetition counts such as {1000} make every match slow; write a simpler pattern`);
  // testExact: the whole value, through re2js's DFA without capture groups.
  return { matches: (value) => re.testExact(value), size };
}
