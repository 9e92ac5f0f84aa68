import { describe, expect, it } from '@jest/globals';
import { CREDENTIAL_LIKE } from '../../lib/core/errors.js';
import { ESCAPE_SEQUENCES } from '../../lib/core/sanitize.js';
import { OAUTH_FIELDS, SAS_PARAMETERS } from '../../lib/stores/azure-blob/redact.js';

// The regexes are built from lists of alternatives to fit the line width; they must equal the literals they replaced.
describe('regexes built from alternatives', () => {
  it.each([
    [
      ESCAPE_SEQUENCES,
      // eslint-disable-next-line no-control-regex
      /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u009b[0-?]*[ -/]*[@-~]|\u001b[@-_]?/g,
    ],
    [
      SAS_PARAMETERS,
      /([?&](?:sig|se|sp|sv|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv|saoid|suoid|scid|sdd)=)[^&\s"']*/gi,
    ],
    [
      OAUTH_FIELDS,
      /((?:access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|code_verifier)["']?\s*[=:]\s*["']?)[^&\s"',;}]+/gi,
    ],
    [
      CREDENTIAL_LIKE,
      /AccountKey=|SharedAccessSignature=|(?:^|[?&;])sig=|Bearer\s|eyJ[A-Za-z0-9_-]{6,}\.|(?:access|refresh|id)_token|client_secret/i,
    ],
  ])('%s has the source and flags of the literal it replaced', (built, literal) => {
    expect([built.source, built.flags]).toEqual([literal.source, literal.flags]);
  });
});
