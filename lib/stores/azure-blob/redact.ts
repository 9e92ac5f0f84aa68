/**
 * Removes credentials from text that is about to be logged or put in an error: SAS signatures,
 * account keys, whole SAS tokens, bearer tokens, OAuth tokens and client secrets (as they appear in
 * identity-provider errors), JWTs, and any extra literal secrets we know about.
 */
export function redactSecrets(text: string, knownSecrets: readonly string[] = []): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (secret.length >= 8) out = out.split(secret).join('[REDACTED]');
  }
  return (
    out
      .replace(/(AccountKey|SharedAccessSignature)=[^;\s"']*/gi, '$1=[REDACTED]')
      .replace(
        /([?&](?:sig|se|sp|sv|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv|saoid|suoid|scid|sdd)=)[^&\s"']*/gi,
        '$1[REDACTED]',
      )
      // OAuth/OIDC fields in a form, query or JSON: access_token=…, "refresh_token": "…", client_secret=
      .replace(
        /((?:access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|code_verifier)["']?\s*[=:]\s*["']?)[^&\s"',;}]+/gi,
        '$1[REDACTED]',
      )
      // A bearer token: only a token-looking word (16+ characters), so the SDK's own sentence
      // "Bearer token authentication is not permitted for non-TLS protected (non-https) URLs." stays intact.
      .replace(/(Bearer\s+)[A-Za-z0-9._~+/-]{16,}=*/g, '$1[REDACTED]')
      // JWTs anywhere, whole or cut short (base64url header.payload.signature; a JSON header starts eyJ).
      .replace(/eyJ[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]*){0,2}/g, '[REDACTED JWT]')
      .replace(/(SharedKey(?:Lite)?\s+[^:\s]+:)[A-Za-z0-9+/=]+/g, '$1[REDACTED]')
  );
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
