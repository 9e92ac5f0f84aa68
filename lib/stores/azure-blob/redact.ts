/**
 * Removes credentials from text that is about to be logged or put in an error: SAS signatures,
 * account keys, whole SAS tokens, bearer tokens, OAuth tokens and client secrets (as they appear in
 * identity-provider errors), JWTs, passwords in URLs (scheme://user:password@host), and any extra
 * literal secrets we know about.
 */
/** SAS query parameters (signature, expiry, permissions, signed key fields…) and their values. */
export const SAS_PARAMETERS = new RegExp(
  String.raw`([?&](?:${[
    ...['sig', 'se', 'sp', 'sv', 'st', 'spr', 'srt', 'ss', 'sr'],
    ...['skoid', 'sktid', 'skt', 'ske', 'sks', 'skv', 'saoid', 'suoid', 'scid', 'sdd'],
  ].join('|')})=)[^&\s"']*`,
  'gi',
);
/** OAuth/OIDC fields in a form, query or JSON: access_token=…, "refresh_token": "…", client_secret= */
export const OAUTH_FIELDS = new RegExp(
  String.raw`((?:${[
    ...['access_token', 'refresh_token', 'id_token', 'client_secret'],
    ...['client_assertion', 'assertion', 'password', 'code_verifier'],
  ].join('|')})["']?\s*[=:]\s*["']?)[^&\s"',;}]+`,
  'gi',
);

/** The password of a URL's userinfo (amqp://user:password@host, postgres://…, redis://:password@…). */
export const URL_USERINFO_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/?#]*:)[^\s@/?#]+@/gi;

export function redactSecrets(text: string, knownSecrets: readonly string[] = []): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (secret.length >= 8) out = out.split(secret).join('[REDACTED]');
  }
  return (
    out
      .replace(/(AccountKey|SharedAccessSignature)=[^;\s"']*/gi, '$1=[REDACTED]')
      .replace(SAS_PARAMETERS, '$1[REDACTED]')
      .replace(OAUTH_FIELDS, '$1[REDACTED]')
      // A bearer token: only a token-looking word (16+ characters), so the SDK's own sentence
      // "Bearer token authentication is not permitted for non-TLS protected (non-https) URLs." stays intact.
      .replace(/(Bearer\s+)[A-Za-z0-9._~+/-]{16,}=*/g, '$1[REDACTED]')
      // JWTs anywhere, whole or cut short (base64url header.payload.signature; a JSON header starts eyJ).
      .replace(/eyJ[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]*){0,2}/g, '[REDACTED JWT]')
      .replace(/(SharedKey(?:Lite)?\s+[^:\s]+:)[A-Za-z0-9+/=]+/g, '$1[REDACTED]')
      .replace(URL_USERINFO_PASSWORD, '$1[REDACTED]@')
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
