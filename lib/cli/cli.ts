#!/usr/bin/env node
// The operator CLI: `npx nestjs-leader-election <status|watch|release|break> [options]`.
// Entry point only: the commands live in program.ts and commands/.
import { runCli } from './program.js';

const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
process.once('SIGTERM', () => stop.abort());

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stop: stop.signal,
});
process.exitCode = code;
// Idle keep-alive sockets of the storage client must not hold the exit; the timer itself holds nothing.
setTimeout(() => process.exit(code), 1000).unref();
