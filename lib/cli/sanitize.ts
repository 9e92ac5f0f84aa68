/** Longest text we print from a value written by someone else (blob names, metadata). */
export const MAX_FOREIGN_LENGTH = 256;

// ANSI escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte escapes.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]|\u009b[0-?]*[ -/]*[@-~]/g;
// C0 and C1 controls (line breaks and tabs included), DEL, and the bidirectional overrides and
// isolates that can make a terminal show text in another order than it is.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes text written by someone else safe to print on a terminal: removes ANSI escape sequences
 * and control characters (so metadata cannot move the cursor, recolour or hide output), and caps
 * the length at {@link MAX_FOREIGN_LENGTH} characters (code points), marking a cut with "…".
 */
export function sanitize(value: string, max = MAX_FOREIGN_LENGTH): string {
  const clean = value.replace(ANSI, '').replace(CONTROL, '');
  const chars = Array.from(clean);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : clean;
}
