// Vitest runs only test/vitest/: the fake-timer promises under Vitest's own fake timers, and a Nest
// app under them (the rest of the suite runs on Jest). The package's own name resolves to the build
// (dist), as it does in an app: `npm run test:vitest` builds it first.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const dist = (path) => fileURLToPath(new URL(`./dist/lib/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^nestjs-leader-election\/testing$/, replacement: dist('testing/index.js') },
      { find: /^nestjs-leader-election$/, replacement: dist('index.js') },
    ],
  },
  test: { include: ['test/vitest/**/*.vitest.ts'], environment: 'node' },
});
