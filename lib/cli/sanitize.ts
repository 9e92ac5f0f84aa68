import { MAX_FOREIGN_TEXT_LENGTH, sanitizeForeignText } from '../core/sanitize.js';

/** Longest text we print from a value written by someone else (blob names, metadata). */
export const MAX_FOREIGN_LENGTH = MAX_FOREIGN_TEXT_LENGTH;

/**
 * Text written by someone else, safe to print on a terminal: the library's own rule for foreign
 * text (escape sequences, control and bidi characters removed, length capped, a cut marked "…"),
 * with nothing printable left shown as an empty string.
 */
export function sanitize(value: string, max = MAX_FOREIGN_LENGTH): string {
  return sanitizeForeignText(value, max) ?? '';
}
