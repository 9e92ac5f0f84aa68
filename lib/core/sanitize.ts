import type { LeaseObservation } from './lease-store.js';
/**
 * Text that comes from outside this process (another replica's recorded identity, a tampered blob's
 * metadata, a custom store) before it is logged or returned: escape sequences and control
 * characters could forge log lines or recolour a terminal, bidirectional overrides could disguise
 * text, and an unbounded length could flood logs and health output.
 */

/** ANSI/VT escape sequences: CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \), and two-byte ESC x. */
export const ESCAPE_SEQUENCES = new RegExp(
  [
    String.raw`\u001b\[[0-?]*[ -/]*[@-~]`,
    String.raw`\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?`,
    String.raw`\u009b[0-?]*[ -/]*[@-~]`,
    String.raw`\u001b[@-_]?`,
  ].join('|'),
  'g',
);
/**
 * C0 and C1 controls, DEL, the left-to-right/right-to-left marks, and the bidirectional overrides and
 * isolates.
 */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Longest foreign text we show; our own identity is capped at the same length. */
export const MAX_FOREIGN_TEXT_LENGTH = 256;

/**
 * Strips escape sequences and control characters, replaces lone surrogates, and caps the length at
 * {@link MAX_FOREIGN_TEXT_LENGTH} UTF-16 code units (never cutting a character in half, with "…"
 * marking the cut). Returns undefined when nothing printable is left.
 */
export function sanitizeForeignText(
  value: string | undefined,
  maxLength = MAX_FOREIGN_TEXT_LENGTH,
): string | undefined {
  if (typeof value !== 'string') return undefined;
  let text = value.replace(ESCAPE_SEQUENCES, '').replace(CONTROL_CHARACTERS, '');
  text = (text as string & { toWellFormed(): string }).toWellFormed();
  if (text.length > maxLength) {
    let cut = maxLength - 1;
    const last = text.charCodeAt(cut - 1);
    if (last >= 0xd800 && last <= 0xdbff) cut -= 1; // keep surrogate pairs whole
    text = `${text.slice(0, cut)}…`;
  }
  return text.trim() === '' ? undefined : text;
}

/**
 * What a store reports is foreign input (another replica wrote it): terms must be safe integers
 * (anything else reads as 0, a lost record, so the record-loss rules apply) and holder identities are
 * stripped of control characters and capped.
 */
export function trustedObservation(observation: LeaseObservation): LeaseObservation {
  const safeTerm = (value: unknown): number | undefined =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const recoveredTerm = safeTerm(observation.recoveredTerm);
  const successor = sanitizeForeignText(observation.successor);
  return {
    held: observation.held === true,
    holder: sanitizeForeignText(observation.holder),
    term: safeTerm(observation.term) ?? 0,
    acquiredAt: observation.acquiredAt,
    ...(recoveredTerm !== undefined ? { recoveredTerm } : {}),
    ...(successor !== undefined ? { successor } : {}),
    ...(typeof observation.etag === 'string' ? { etag: observation.etag } : {}),
    ...(typeof observation.silentForAtLeastMs === 'number' && observation.silentForAtLeastMs >= 0
      ? { silentForAtLeastMs: observation.silentForAtLeastMs }
      : {}),
    ...(Number.isSafeInteger(observation.holderLivenessMs) && observation.holderLivenessMs! > 0
      ? { holderLivenessMs: observation.holderLivenessMs }
      : {}),
  };
}
