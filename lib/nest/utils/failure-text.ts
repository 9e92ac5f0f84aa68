import { ESCAPE_SEQUENCES } from '../../core/sanitize.js';
import { redactSecrets } from '../../stores/azure-blob/redact.js';

/**
 * How a failure of user code (a leader task, a hook, a missed @Timeout run) is logged: a one-line
 * message and, like Nest's Logger.error(message, stack), the stack followed by each cause's stack
 * ("Caused by: …", at most 5 deep). Credentials are redacted and escape/control characters other
 * than line breaks are stripped: the text may carry a connection string or a remote server's words.
 */
export interface FailureText {
  message: string;
  stack: string | undefined;
}

const MAX_CAUSES = 5;
const MAX_STACK_LENGTH = 16_000;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Redacted, one line (for the message) or with line breaks kept (for stacks). */
export function cleanText(text: string, multiline = false): string {
  const redacted = redactSecrets(text).replace(ESCAPE_SEQUENCES, '');
  const lines = multiline ? redacted.replace(/\r\n?/g, '\n') : redacted.replace(/[\r\n]+/g, ' ');
  return lines.replace(CONTROLS, '');
}

/** The error's own message, cleaned (what the one-line messages show). */
export function failureMessage(error: unknown): string {
  return cleanText(error instanceof Error ? error.message : describeValue(error));
}

export function describeFailure(error: unknown): FailureText {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSES && current !== undefined && !seen.has(current); depth++) {
    seen.add(current);
    const text =
      current instanceof Error
        ? (current.stack ?? `${current.name}: ${current.message}`)
        : describeValue(current);
    parts.push(depth === 0 ? text : `Caused by: ${text}`);
    current = current instanceof Error ? current.cause : undefined;
  }
  const stack = cleanText(parts.join('\n'), true);
  return {
    message: failureMessage(error),
    stack: stack.length > MAX_STACK_LENGTH ? `${stack.slice(0, MAX_STACK_LENGTH)}…` : stack,
  };
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value)?.slice(0, 1000) ?? typeof value;
  } catch {
    return typeof value;
  }
}
