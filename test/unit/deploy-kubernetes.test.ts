/**
 * deploy/kubernetes cannot be applied here (no cluster), so this test keeps it honest: kustomize
 * renders the base and the local overlay, kubeconform validates every object strictly against
 * the Kubernetes and KEDA schemas (no unknown field, no kind without a schema), and the rendered
 * objects are held to what the deployment promises: a Deployment per stage and the intake with
 * probes, limits and a locked-down security context; lag-scaled stages up to the partition
 * count; configuration that lib/config.ts accepts; each pod reaching only what it uses.
 * kustomize, kubeconform and the schemas are prepared by `permitflow stack tools` (`make test`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { loadConfig, OPTIONS, REPO_ROOT } from '../../lib/config.ts';
import { requireDeployTools } from '../../ops/stack/deploy-tools.ts';
import { buildTopology, DEFAULT_NAMESPACE, PROCESSORS, type ProcessorId } from '../../topology/topics.ts';

const dir = join(REPO_ROOT, 'deploy', 'kubernetes');
const tools = requireDeployTools(loadConfig().stack.cacheDir);
const STAGES = Object.keys(PROCESSORS) as ProcessorId[];

interface Container {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  startupProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean };
  containers: Container[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: Record<string, unknown> & { template?: { spec: PodSpec } };
}
interface EgressRule {
  to?: Array<{ podSelector?: { matchLabels?: Record<string, string> }; ipBlock?: { cidr: string } }>;
  ports?: Array<{ port: number }>;
}

function kustomize(path: string): string {
  const result = spawnSync(tools.kustomize, ['build', path], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `kustomize build ${path}:\n${result.stderr}`);
  return result.stdout;
}

/** kubeconform on `yaml` (stdin), strict, failing on kinds it has no schema for. */
function kubeconform(yaml: string): { status: number | null; output: string } {
  const args = ['-strict', '-summary', '-kubernetes-version', tools.kubernetesVersion, ...tools.schemaLocations.flatMap((l) => ['-schema-location', l]), '-'];
  const result = spawnSync(tools.kubeconform, args, { input: yaml, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.error, undefined, `kubeconform: ${result.error?.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

function objects(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject);
}

const rendered = kustomize(join(dir, 'overlays', 'local'));
const all = objects(rendered);
const byKind = (kind: string) => all.filter((o) => o.kind === kind);
const named = (kind: string, name: string): K8sObject => {
  const found = all.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `no ${kind} ${name} in the local overlay`);
  return found;
};
const container = (o: K8sObject): Container => o.spec!.template!.spec.containers[0]!;
const configMap = byKind('ConfigMap').find((c) => c.metadata.name.startsWith('permitflow-config'))!;
const secretKeys = parseEnv(readFileSync(join(dir, 'secrets.env.example'), 'utf8'));

test('the base and the local overlay are valid Kubernetes and KEDA objects (kubeconform, strict)', () => {
  for (const [name, yaml] of [['base', kustomize(join(dir, 'base'))], ['local', rendered]] as const) {
    const { status, output } = kubeconform(yaml);
    assert.equal(status, 0, `${name}:\n${output}`);
    const summary = /Valid: (\d+), Invalid: 0, Errors: 0, Skipped: 0/.exec(output);
    assert.ok(summary, `${name}: ${output}`);
    assert.equal(Number(summary[1]), objects(yaml).length, `${name}: every object was validated`);
  }
});

test('kubeconform rejects an unknown field of a Deployment and of a ScaledObject, and a kind it has no schema for', () => {
  const withTypo = (kind: string, change: (o: K8sObject) => void): string =>
    all
      .map((o) => {
        const copy = structuredClone(o);
        if (o.kind === kind) change(copy);
        return stringify(copy);
      })
      .join('---\n');
  const scaled = withTypo('ScaledObject', (o) => Object.assign(o.spec!, { maxReplicas: 6 }));
  assert.match(kubeconform(scaled).output, /ScaledObject \S+ is invalid.*'maxReplicas' not allowed/);
  const deployment = withTypo('Deployment', (o) => Object.assign(container(o).securityContext!, { readonlyRootFilesystem: true }));
  assert.match(kubeconform(deployment).output, /Deployment \S+ is invalid.*'readonlyRootFilesystem' not allowed/);
  assert.match(kubeconform('apiVersion: keda.sh/v1alpha1\nkind: ScaledThing\nmetadata: {name: x}\n').output, /could not find schema for ScaledThing/);
});

test('every stage and the intake run as a Deployment through the signal-safe entry, probed, limited and locked down', () => {
  const expected = new Map<string, string[]>([...STAGES.map((s) => [s, ['run', s]] as [string, string[]]), ['intake', ['intake']]]);
  assert.deepEqual(byKind('Deployment').map((d) => d.metadata.name).sort(), [...expected.keys()].sort());
  for (const [name, args] of expected) {
    const deployment = named('Deployment', name);
    const c = container(deployment);
    // The image's entry point is `node bin/permitflow.js`: node gets SIGTERM itself (never npx).
    assert.deepEqual(c.args, args, name);
    assert.equal(c.startupProbe?.httpGet?.path, '/healthz', name);
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', name);
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', name);
    assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, `${name}: requests and a memory limit`);
    assert.equal(deployment.spec!.template!.spec.securityContext?.runAsNonRoot, true, name);
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }, name);
    assert.deepEqual(
      c.envFrom?.map((e) => e.configMapRef?.name ?? e.secretRef?.name),
      [configMap.metadata.name, 'permitflow-secrets'],
      `${name}: configuration from the ConfigMap and the Secret`,
    );
  }
  const job = byKind('Job');
  assert.equal(job.length, 1);
  assert.deepEqual(container(job[0]!).args, ['topology', 'apply']);
});

test("each stage scales on its own consumer group's lag up to the partition count; the intake on CPU", () => {
  const partitions = Number(configMap.data!.PERMITFLOW_PARTITIONS);
  assert.equal(configMap.data!.PERMITFLOW_TOPIC_NAMESPACE, DEFAULT_NAMESPACE, 'the groups below are those of the default namespace');
  const topology = buildTopology({ namespace: DEFAULT_NAMESPACE, partitions, replicationFactor: 1, minCompactionLagMs: 0 });
  for (const stage of STAGES) {
    const scaled = named('ScaledObject', stage).spec as { scaleTargetRef: { name: string }; maxReplicaCount: number; minReplicaCount: number; triggers: Array<{ type: string; metadata: Record<string, string> }> };
    assert.equal(scaled.scaleTargetRef.name, stage);
    assert.equal(scaled.maxReplicaCount, partitions, `${stage}: at most one instance per partition`);
    assert.ok(scaled.minReplicaCount >= 1, `${stage}: never scaled to zero`);
    assert.equal(scaled.triggers.length, 1);
    assert.equal(scaled.triggers[0]!.type, 'kafka');
    assert.equal(scaled.triggers[0]!.metadata.consumerGroup, topology.group(stage), stage);
    assert.ok(Number(scaled.triggers[0]!.metadata.lagThreshold) > 0, stage);
    const brokersFrom = scaled.triggers[0]!.metadata.bootstrapServersFromEnv!;
    assert.ok(brokersFrom in configMap.data!, `${stage}: the scaler reads the brokers from the stage's own ${brokersFrom}`);
    const budget = named('PodDisruptionBudget', stage).spec as { maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
    assert.deepEqual(budget.selector.matchLabels, (named('Deployment', stage).spec!.selector as { matchLabels: Record<string, string> }).matchLabels);
  }
  const intake = named('ScaledObject', 'intake').spec as { minReplicaCount: number; triggers: Array<{ type: string }> };
  assert.equal(intake.triggers[0]!.type, 'cpu');
  assert.ok(intake.minReplicaCount >= 2);
  assert.equal((named('PodDisruptionBudget', 'intake').spec as { minAvailable: number }).minAvailable, 1);
});

test('every variable the manifests set is an option of lib/config.ts, secrets only in the Secret, and the result loads', () => {
  const set = new Map<string, string>(Object.entries(configMap.data!));
  for (const deployment of [...byKind('Deployment'), ...byKind('Job')]) {
    for (const { name, value } of container(deployment).env ?? []) set.set(name, value ?? '');
  }
  for (const key of [...set.keys(), ...Object.keys(secretKeys)]) {
    assert.ok(key in OPTIONS, `${key} is not an option of lib/config.ts`);
    assert.ok(!(OPTIONS as Record<string, { stackOnly?: boolean }>)[key]!.stackOnly, `${key} is an option of the local stack only`);
  }
  for (const [key, value] of set) {
    assert.doesNotMatch(key, /PASSWORD|SECRET|ACCESS_KEY/, `${key} belongs in the Secret, not the ConfigMap`);
    assert.doesNotMatch(value, /:\/\/[^/@\s]*:[^/@\s]*@/, `${key} carries credentials: it belongs in the Secret`);
  }
  for (const key of ['S3_SECRET_ACCESS_KEY', 'REDIS_URL', 'DATABASE_URL']) assert.ok(key in secretKeys, `${key} comes from the Secret`);
  const config = loadConfig({ ...Object.fromEntries(set), ...secretKeys, PERMITFLOW_ENV_FILE: '/nonexistent' });
  assert.equal(config.metrics.host, '0.0.0.0', '/metrics, /healthz and /readyz reachable from the kubelet and Prometheus');
  assert.equal(config.metrics.port, 9464);
  assert.equal(config.topology.partitions, Number(set.get('PERMITFLOW_PARTITIONS')));
});

test('each pod reaches only the services it uses', () => {
  const policies = byKind('NetworkPolicy');
  const deny = policies.find((p) => p.metadata.name === 'default-deny')!.spec as { podSelector: object; policyTypes: string[] };
  assert.deepEqual(deny, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }, 'everything else is denied');
  const reaches = (component: string): Set<string> => {
    const policy = named('NetworkPolicy', `${component}-egress`).spec as { podSelector: { matchLabels: Record<string, string> }; egress: EgressRule[] };
    assert.equal(policy.podSelector.matchLabels['app.kubernetes.io/component'], component);
    return new Set(policy.egress.flatMap((rule) => (rule.to ?? []).map((peer) => peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] ?? (peer.ipBlock ? 'internet' : 'other'))));
  };
  const expected: Record<string, string[]> = {
    topology: ['kafka', 'schema-registry'],
    windower: ['kafka', 'schema-registry', 'minio'],
    enricher: ['kafka', 'schema-registry', 'minio', 'redis', 'internet'],
    validator: ['kafka', 'schema-registry', 'minio'],
    decider: ['kafka', 'schema-registry', 'minio'],
    'read-model': ['kafka', 'schema-registry', 'postgresql'],
    notifier: ['kafka', 'schema-registry', 'postgresql', 'internet'],
    archiver: ['kafka', 'schema-registry', 'minio'],
    intake: ['kafka', 'schema-registry', 'minio', 'redis', 'postgresql'],
  };
  for (const [component, peers] of Object.entries(expected)) assert.deepEqual([...reaches(component)].sort(), [...peers].sort(), component);
  const intakeIngress = named('NetworkPolicy', 'intake-ingress').spec as { podSelector: { matchLabels: Record<string, string> } };
  assert.equal(intakeIngress.podSelector.matchLabels['app.kubernetes.io/component'], 'intake', 'only the intake takes traffic from outside');
});
