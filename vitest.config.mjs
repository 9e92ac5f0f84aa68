// Vitest runs only test/vitest/: the fake-timer promises under Vitest's own fake timers (the rest of
// the suite runs on Jest).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['test/vitest/**/*.vitest.ts'], environment: 'node' },
});
