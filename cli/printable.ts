/**
 * Record data printed on an operator's terminal is escaped first: a submission's reference, a
 * finding's text or a dead letter's message comes from outside (an applicant, a legacy export, a
 * producer), and raw control characters in it would run as terminal commands (ESC sequences
 * that retitle the window, rewrite the screen or fake output; OSC 8 links; bidi overrides that
 * show text in another order). Every CLI output of record data goes through this module.
 */

/**
 * C0 and C1 controls, DEL, bidirectional formatting characters (Trojan Source) and the Unicode
 * line and paragraph separators.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The same minus C0, which JSON.stringify escapes in strings (its raw new lines are the layout). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every control character shown as an escape (`\e`, `\n`, `\x07`, `\u202e`): safe on one terminal line. */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** Lines of text, each made printable: a line of record data cannot break into several. */
export function printableLines(lines: readonly string[]): string {
  return lines.map(printable).join('\n');
}

/**
 * JSON for a terminal or a pipe: JSON.stringify already escapes C0 controls; this also escapes
 * C1 controls, DEL, bidi and line separators, as JSON `\u` escapes, so the text still parses
 * to the same value.
 */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
