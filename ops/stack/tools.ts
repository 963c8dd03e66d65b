/**
 * The machine's tools the stack needs (java, mvn, go, tar, apt-get), found up front so a missing
 * one is named with how to get it instead of surfacing as a spawn error halfway through; and the
 * pinned Go commands (MinIO, promtool) built from the Go module proxy into the cache.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { run } from './proc.ts';
import { StackError } from './service.ts';

/** Absolute path of an executable on PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Path of `command`, or a StackError saying how to install it. */
export function requireTool(command: string, howToGet: string): string {
  const path = which(command);
  if (!path) throw new StackError(`${command} not found on PATH: ${howToGet}`);
  return path;
}

export interface Java {
  path: string;
  major: number;
}

let javas: Java[] | undefined;

/** Every Java runtime on the machine: $JAVA_HOME, PATH, then /usr/lib/jvm/*, newest first there. */
function installedJavas(): Java[] {
  if (javas) return javas;
  const candidates: string[] = [];
  if (process.env.JAVA_HOME) candidates.push(join(process.env.JAVA_HOME, 'bin', 'java'));
  const onPath = which('java');
  if (onPath) candidates.push(onPath);
  if (existsSync('/usr/lib/jvm')) {
    for (const dir of readdirSync('/usr/lib/jvm').sort().reverse()) candidates.push(join('/usr/lib/jvm', dir, 'bin', 'java'));
  }
  const seen = new Set<string>();
  javas = [];
  for (const candidate of candidates) {
    let real: string;
    try {
      real = realpathSync(candidate);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    // `java -version` prints e.g. `openjdk version "17.0.15"` or `"1.8.0_402"` on stderr.
    const out = spawnSync(real, ['-version'], { encoding: 'utf8', timeout: 15_000 });
    const match = /version "(\d+)(?:\.(\d+))?/.exec(`${out.stderr}${out.stdout}`);
    if (!match) continue;
    const first = Number(match[1]);
    javas.push({ path: real, major: first === 1 ? Number(match[2]) : first });
  }
  return javas;
}

/** The first Java runtime of at least `minMajor` in the order of installedJavas(). */
export function findJava(minMajor: number, forWhat: string): Java {
  const all = installedJavas();
  const found = all.find((j) => j.major >= minMajor);
  if (found) return found;
  const have = all.length ? `found only ${all.map((j) => `Java ${j.major} (${j.path})`).join(', ')}` : 'found no Java at all';
  throw new StackError(
    `${forWhat} needs Java ${minMajor} or newer; ${have}. Install a JDK ${minMajor}+ ` +
      `(e.g. Eclipse Temurin ${minMajor}, or \`apt-get install openjdk-${minMajor}-jre-headless\` where Debian has it) ` +
      'and put it on PATH, in JAVA_HOME or under /usr/lib/jvm.',
  );
}

export function requireMaven(): string {
  return requireTool('mvn', 'install Apache Maven 3.6+ (`apt-get install -y maven` on Debian/Ubuntu) to fetch the jars from Maven Central.');
}

let aptQueue: Promise<void> = Promise.resolve();

/**
 * Installs Debian packages non-interactively. apt holds a global lock, so installs from
 * concurrently preparing services are queued.
 */
export function aptInstall(packages: string[], forWhat: string, log: string): Promise<void> {
  const install = async (): Promise<void> => {
    const list = packages.join(' ');
    if (!which('apt-get')) throw new StackError(`${forWhat} is not installed and there is no apt-get to install it; install ${list} (Debian package names) with this system's package manager.`);
    if (process.getuid?.() !== 0) throw new StackError(`${forWhat} is not installed and installing it needs root; run: sudo apt-get install -y ${list}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update'], { what: 'apt-get update', timeoutMs: 10 * 60_000, env, log });
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { what: `apt-get install ${packages.join(' ')}`, timeoutMs: 15 * 60_000, env, log });
  };
  const next = aptQueue.then(install);
  aptQueue = next.catch(() => {});
  return next;
}

let mavenQueue: Promise<void> = Promise.resolve();

/** Runs Maven steps one at a time: concurrent Maven runs can corrupt the shared ~/.m2 repository. */
export function serialMaven(step: () => Promise<void>): Promise<void> {
  const next = mavenQueue.then(step);
  mavenQueue = next.catch(() => {});
  return next;
}

/** A Go command pinned to one version, built with `go install <pkg>@<version>`. */
export interface GoCommand {
  /** Package path of the command, e.g. github.com/prometheus/prometheus/cmd/promtool. */
  pkg: string;
  version: string;
  /** Name of the built binary (the last element of pkg). */
  binary: string;
  /** The `go` line of the module's go.mod: older toolchains refuse to build it. */
  minGo: string;
}

/** Where a Go command lives in the cache: <cache>/bin/<binary>, its version in <binary>.version. */
export function goCommandPath(cache: string, command: GoCommand): string {
  return join(cache, 'bin', command.binary);
}

/** Path of the command if the cache holds it at exactly the pinned version. */
export function cachedGoCommand(cache: string, command: GoCommand): string | undefined {
  const binary = goCommandPath(cache, command);
  const versionFile = `${binary}.version`;
  const built = existsSync(binary) && existsSync(versionFile) && readFileSync(versionFile, 'utf8').trim() === command.version;
  return built ? binary : undefined;
}

/**
 * Builds the command into the cache unless it is there at the pinned version (no prebuilt
 * binaries can be downloaded here, only modules), and returns its path.
 */
export async function ensureGoCommand(cache: string, command: GoCommand, options: { log: string; say: (message: string) => void }): Promise<string> {
  const cached = cachedGoCommand(cache, command);
  if (cached) return cached;
  const go = requireTool('go', `install Go ${command.minGo} or newer (https://go.dev/doc/install; Debian: \`apt-get install -y golang-go\`, if its version is recent enough) to build ${command.binary} from the Go module proxy.`);
  const target = `${command.pkg}@${command.version}`;
  options.say(`building ${target} with go install (first run only, a few minutes)`);
  const started = Date.now();
  // Into a private GOBIN first, so a failed or concurrent build never leaves a half-written binary in place.
  const tmpBin = join(cache, `bin.${process.pid}.tmp`);
  mkdirSync(tmpBin, { recursive: true });
  try {
    await run(go, ['install', target], {
      what: `building ${target} (go install through the Go module proxy; it needs Go ${command.minGo} or newer)`,
      timeoutMs: 40 * 60_000,
      env: { ...process.env, GOBIN: tmpBin, GOFLAGS: '-buildvcs=false' },
      cwd: cache,
      log: options.log,
    });
    const binary = goCommandPath(cache, command);
    mkdirSync(dirname(binary), { recursive: true });
    renameSync(join(tmpBin, command.binary), binary);
    writeFileSync(`${binary}.version`, `${command.version}\n`);
    options.say(`built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return binary;
  } finally {
    rmSync(tmpBin, { recursive: true, force: true });
  }
}
