/**
 * The processor contract (issue 12): each processor is declared once, in
 * `processors/<name>/topology.ts`; the topology graph is assembled from those declarations, and
 * the runtime refuses an output or a store a processor did not declare.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../lib/config.ts';
import { declaredStore, outputGuard, UndeclaredOutputError } from '../../processors/runtime/contract.ts';
import { classify } from '../../lib/errors.ts';
import { buildTopology, PROCESSORS, type ProcessorId } from '../../topology/topics.ts';

const topology = buildTopology({ namespace: 'contract', partitions: 3, replicationFactor: 1, minCompactionLagMs: 0 });

test('the graph is the declarations: every processor of PROCESSORS has its processors/<name>/topology.ts', () => {
  for (const [id, declaration] of Object.entries(PROCESSORS)) {
    assert.equal(declaration.id, id);
    const file = readFileSync(join(REPO_ROOT, 'processors', id, 'topology.ts'), 'utf8');
    assert.match(file, new RegExp(`id: '${id}'`));
  }
});

test('no processor writes its graph a second time: topic ids of inputs appear only in its declaration', () => {
  // A definition that listed `topology.topics.<id>` as an input again could drift from the graph.
  const offenders: string[] = [];
  for (const id of Object.keys(PROCESSORS) as ProcessorId[]) {
    let files: string[];
    try {
      files = readdirSync(join(REPO_ROOT, 'processors', id)).filter((f) => f.endsWith('.ts') && f !== 'topology.ts');
    } catch {
      continue;
    }
    for (const f of files) if (/inputs:\s*\[\s*topology\.topics\./.test(readFileSync(join(REPO_ROOT, 'processors', id, f), 'utf8'))) offenders.push(`processors/${id}/${f}`);
  }
  assert.deepEqual(offenders, []);
});

test('retry topics are declared among the inputs and outputs of their processor', () => {
  for (const declaration of Object.values(PROCESSORS)) {
    for (const retry of declaration.retries) {
      assert.ok((declaration.inputs as readonly string[]).includes(retry), `${declaration.id} reads ${retry}`);
      assert.ok((declaration.outputs as readonly string[]).includes(retry), `${declaration.id} writes ${retry}`);
      assert.ok(topology.topics[retry].delayMs! > 0, `${retry} has a delay`);
    }
  }
});

test('the runtime refuses an output topic the processor did not declare, as a fatal error', () => {
  const check = outputGuard('validator', topology);
  check({ topic: topology.topics.validated, key: 'k', value: {} });
  check({ topic: topology.topics.dlq, key: 'k', value: {} });
  assert.throws(() => check({ topic: topology.topics.accepted, key: 'k', value: {} }), (err: unknown) => {
    assert.ok(err instanceof UndeclaredOutputError);
    assert.match(err.message, /processor validator wrote topic contract\.state\.accepted, which is not one of its declared outputs/);
    // A bug in the processor stops it: never retried, never dead-lettered.
    assert.equal(classify(err), 'fatal');
    return true;
  });
});

test('a processor restores only its declared stores: the runtime names the changelog, and refuses another store', () => {
  assert.equal(declaredStore('windower', topology, 'seen-hashes'), 'contract.windower.seen-hashes.changelog');
  assert.throws(() => declaredStore('windower', topology, 'other-store'), /processor windower asked for store other-store, which is not one of its declared stores \(seen-hashes, open-window\)/);
  assert.throws(() => declaredStore('validator', topology, 'seen-hashes'), UndeclaredOutputError);
});
