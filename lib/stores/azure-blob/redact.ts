/**
 * Removes credentials from text that is about to be logged or put in an error: SAS signatures,
 * account keys, whole SAS tokens, bearer tokens, and any extra literal secrets we know about.
 */
export function redactSecrets(text: string, knownSecrets: readonly string[] = []): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (secret.length >= 8) out = out.split(secret).join('[REDACTED]');
  }
  return out
    .replace(/(AccountKey|SharedAccessSignature)=[^;\s"']*/gi, '$1=[REDACTED]')
    .replace(/([?&](?:sig|se|sp|sv|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv|saoid|suoid|scid|sdd)=)[^&\s"']*/gi, '$1[REDACTED]')
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, '$1[REDACTED]')
    .replace(/(SharedKey(?:Lite)?\s+[^:\s]+:)[A-Za-z0-9+/=]+/g, '$1[REDACTED]');
}

/** An URL for display: origin and path only (a SAS token in the query is dropped). */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`.replace(/\/$/, '');
  } catch {
    return '[unparseable URL]';
  }
}
