import { InvalidElectionOptionError } from '../../core/election-options.js';

const CONTAINER_NAME = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Azure container naming rules: 3–63 chars, lowercase letters, digits and single hyphens, no hyphen at
 * either end.
 */
export function validateContainerName(value: unknown, option = 'containerName'): string {
  if (typeof value !== 'string' || !CONTAINER_NAME.test(value)) {
    throw new InvalidElectionOptionError(
      option,
      value,
      'an Azure container name: 3–63 characters, lowercase letters, digits and hyphens, starting and ' +
        'ending with a letter or digit, no two hyphens in a row',
    );
  }
  return value;
}
