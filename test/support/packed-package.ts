// The package as a user gets it: `npm pack` (its real prepack build) and an offline
// `npm install` of the tarball, then fresh consumer projects that import it by name.
//
// - Packing runs in a staged copy of the package sources (package.json, tsconfig*.json, lib/,
//   README.md, CHANGELOG.md, LICENSE; node_modules symlinked), never in the repository: prepack rewrites dist/,
//   which the sample-app and chaos tests run from while other test files run in parallel.
// - The tarball is installed with `npm install --offline --no-save --legacy-peer-deps` (nothing
//   leaves this machine); the peers (@nestjs/*, @azure/*, rxjs, reflect-metadata, @types) are then
//   symlinked from this repository's node_modules (the Nest ones from NEST_PEERS_NODE_MODULES if
//   set), so consumer and library share one copy of Nest.
// - Jest's global setup gives the run one work folder (PACKED_PACKAGE_DIR): the first test file
//   that asks packs and installs once under a lock folder, the others wait for its result. The
//   global teardown removes the folder.
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What a consumer project needs to import the package by name. */
export interface InstalledPackage {
  /** The tarball `npm pack` made. */
  tarball: string;
  /** node_modules with the installed tarball and the peers (symlinks into this repository). */
  nodeModules: string;
}

const STAGED = [
  'package.json',
  'README.md',
  'CHANGELOG.md',
  'LICENSE',
  'tsconfig.json',
  'tsconfig.build.json',
  'lib',
];
const PEERS = ['@nestjs', '@azure', '@types', 'rxjs', 'reflect-metadata'];
const NEST_PEERS = new Set(['@nestjs', 'rxjs', 'reflect-metadata']);

/**
 * The node_modules a peer is linked from: this repository's, or for the Nest peers (@nestjs/*,
 * rxjs, reflect-metadata) the one NEST_PEERS_NODE_MODULES names, if set (the NestJS 11 run,
 * test/compat/nest11, sets it to its own install).
 */
function peerSource(peer: string): string {
  const nestPeers = process.env.NEST_PEERS_NODE_MODULES;
  return nestPeers && NEST_PEERS.has(peer) ? nestPeers : join(repoRoot, 'node_modules');
}
const WAIT_MS = 240_000;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 180_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr: error && code === null ? `${stderr}\n${error.message}` : stderr });
      },
    );
  });
}

async function mustRun(command: string, args: string[], cwd: string): Promise<RunResult> {
  const result = await run(command, args, { cwd });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) exited with ${result.code}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

let ownWorkDir: string | undefined;

/** The run's folder from the global setup; without one (another Jest config), a folder of this process's own. */
function workDir(): string {
  return process.env.PACKED_PACKAGE_DIR ?? (ownWorkDir ??= mkdtempSync(join(tmpdir(), 'nle-packed-')));
}

async function packAndInstall(work: string): Promise<InstalledPackage> {
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of STAGED) cpSync(join(repoRoot, entry), join(stage, entry), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const packs = join(work, 'tarballs');
  mkdirSync(packs);
  await mustRun('npm', ['pack', '--pack-destination', packs, '--loglevel', 'error'], stage);
  const tarballs = readdirSync(packs).filter((name) => name.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack made ${tarballs.length} tarballs in ${packs}`);
  const tarball = join(packs, tarballs[0]!);

  const install = join(work, 'install');
  mkdirSync(install);
  writeFileSync(
    join(install, 'package.json'),
    JSON.stringify({ name: 'packed-package-install', private: true }),
  );
  // An offline install cannot resolve the package's own dependencies (e.g. the CLI's commander):
  // `npm ci` caches tarballs but not the registry documents a resolution needs. Put them in place
  // first, copied from this repository's node_modules; npm then finds them satisfied.
  seedDependencies(join(install, 'node_modules'));
  await mustRun(
    'npm',
    [
      'install',
      '--offline',
      '--no-save',
      '--no-package-lock',
      '--ignore-scripts',
      '--legacy-peer-deps',
      '--no-audit',
      '--no-fund',
      '--loglevel',
      'error',
      tarball,
    ],
    install,
  );
  const nodeModules = join(install, 'node_modules');
  if (!existsSync(join(nodeModules, 'nestjs-leader-election', 'package.json')))
    throw new Error(`npm install did not install ${tarball}`);
  for (const peer of PEERS) symlinkSync(join(peerSource(peer), peer), join(nodeModules, peer), 'dir');
  return { tarball, nodeModules };
}

/** Copies the package's runtime dependencies, and theirs, from this repository's node_modules into `nodeModules`. */
function seedDependencies(nodeModules: string): void {
  const manifest = (dir: string) =>
    JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
  const pending = Object.keys(manifest(repoRoot).dependencies ?? {});
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const source = join(repoRoot, 'node_modules', name);
    if (!existsSync(join(source, 'package.json'))) continue; // an optional dependency not installed here
    cpSync(source, join(nodeModules, name), { recursive: true, dereference: true });
    const { dependencies = {}, optionalDependencies = {} } = manifest(source);
    // Dependencies nested in the package's own node_modules came along with it.
    for (const dep of [...Object.keys(dependencies), ...Object.keys(optionalDependencies)]) {
      if (!existsSync(join(source, 'node_modules', dep))) pending.push(dep);
    }
  }
}

let installed: Promise<InstalledPackage> | undefined;

/** Packs and installs the package once per Jest run (across test files and workers). */
export function installPackedPackage(): Promise<InstalledPackage> {
  installed ??= (async () => {
    const work = workDir();
    const ready = join(work, 'ready.json');
    const failed = join(work, 'failed.txt');
    try {
      mkdirSync(join(work, 'lock'));
    } catch {
      // Another test file packs: wait for its result.
      const started = Date.now();
      while (!existsSync(ready) && !existsSync(failed)) {
        if (Date.now() - started > WAIT_MS)
          throw new Error(`no packed package in ${work} after ${WAIT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      if (existsSync(failed))
        throw new Error(`packing failed in another test file:\n${readFileSync(failed, 'utf8')}`);
      return JSON.parse(readFileSync(ready, 'utf8')) as InstalledPackage;
    }
    try {
      const result = await packAndInstall(work);
      writeFileSync(`${ready}.tmp`, JSON.stringify(result));
      renameSync(`${ready}.tmp`, ready); // appears whole
      return result;
    } catch (error) {
      writeFileSync(failed, error instanceof Error ? (error.stack ?? error.message) : String(error));
      throw error;
    }
  })();
  return installed;
}

/**
 * A fresh project folder with the given files (paths relative to it) and a node_modules that holds
 * the installed tarball and its peers.
 */
export async function createConsumer(name: string, files: Record<string, string>): Promise<string> {
  const { nodeModules } = await installPackedPackage();
  const consumers = join(workDir(), 'consumers');
  mkdirSync(consumers, { recursive: true });
  const dir = mkdtempSync(join(consumers, `${name}-`));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  symlinkSync(nodeModules, join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Compiles a consumer project with this repository's TypeScript (`tsc -p <dir>`). */
export function compile(dir: string): Promise<RunResult> {
  return run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], {
    cwd: dir,
  });
}

/**
 * The compiler options of the Nest CLI's templates and of this project: NodeNext (the package.json
 * "type" of the consumer decides ESM or CommonJS output), decorators with metadata, strict.
 */
export const CONSUMER_COMPILER_OPTIONS = {
  module: 'nodenext',
  moduleResolution: 'nodenext',
  target: 'ES2022',
  lib: ['ES2023'],
  types: ['node'],
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  skipLibCheck: true,
  isolatedModules: true,
  rootDir: 'src',
  outDir: 'dist',
};
