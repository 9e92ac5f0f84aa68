import { redactSecrets } from '../stores/azure-blob/redact.js';

export interface OutputStreams {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number; rows?: number };
  stderr: { write(text: string): unknown };
}

/**
 * Everything the CLI prints goes through here, and every known secret (the connection string, its
 * account key or SAS, an account URL's query) is removed from it first, whatever produced the text:
 * our own messages, the storage SDK's errors or commander's usage errors.
 */
export class Output {
  private readonly secrets: string[] = [];

  constructor(private readonly streams: OutputStreams) {}

  get isTTY(): boolean {
    return this.streams.stdout.isTTY === true;
  }

  /** The terminal's size, when stdout is one. */
  get terminalSize(): { columns: number; rows: number } | undefined {
    const { isTTY, columns, rows } = this.streams.stdout;
    return isTTY && columns && rows ? { columns, rows } : undefined;
  }

  /** Adds secrets to remove from all further output. */
  addSecrets(...secrets: (string | undefined)[]): void {
    for (const secret of secrets)
      if (secret && secret.length >= 8 && !this.secrets.includes(secret)) this.secrets.push(secret);
    // Longest first, so a whole connection string is replaced before the key inside it.
    this.secrets.sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  out(text: string): void {
    this.streams.stdout.write(this.redact(text));
  }

  err(text: string): void {
    this.streams.stderr.write(this.redact(text));
  }
}

/**
 * The secrets in a connection string: the whole string and each AccountKey / SharedAccessSignature value (and
 * a SAS's signature).
 */
export function secretsOfConnectionString(connectionString: string): string[] {
  const secrets = [connectionString];
  for (const part of connectionString.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    const key = part.slice(0, index).trim().toLowerCase();
    const value = part.slice(index + 1).trim();
    if ((key === 'accountkey' || key === 'sharedaccesssignature') && value) {
      secrets.push(value);
      const sig = /(?:^|&)sig=([^&]+)/.exec(value)?.[1];
      if (sig) secrets.push(sig, safeDecode(sig));
    }
  }
  return secrets;
}

/** The secrets in an account URL: its query (a SAS token) and the signature in it. */
export function secretsOfUrl(url: string): string[] {
  const query = /\?(.*)$/.exec(url)?.[1];
  if (!query) return [];
  const sig = /(?:^|&)sig=([^&#]+)/.exec(query)?.[1];
  return sig ? [query, sig, safeDecode(sig)] : [query];
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
