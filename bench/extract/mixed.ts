/**
 * JSON submissions' end-to-end rate with PDF applications mixed in, vs without: N JSON
 * applications on the raw topic (bench/e2e's workload), then the stages (`run all`, or one process
 * per stage) in a fresh namespace, timed from the first `received` to the N-th JSON decision in
 * the read model.
 * The mixed run adds M filled F100 forms and S scans (PDF envelopes on submissions.extract, the
 * PDFs in the object store) before the stages start. The goal: the JSON rate with PDFs within 10%
 * of the rate without. Called by bench/extract/index.ts --mixed.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { attachmentKey } from '../../connectors/claim-check.ts';
import { createObjectStore } from '../../connectors/object-store.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import { freePort } from '../../test/support/ports.ts';
import { createNamespace, type Namespace } from '../e2e/namespace.ts';
import { STAGES, type Layout } from '../e2e/drain.ts';
import { spawnStage, stopStages, watchExits } from '../e2e/processes.ts';
import { produceApplications } from '../e2e/workload.ts';

export interface MixedRun {
  pdfs: number;
  /** Dead letters by error class (the PDFs' causes, if any). */
  deadLetters: Record<string, number>;
  jsonDecided: number;
  seconds: number;
  jsonPerSecond: number;
  pdfsDecided: number;
  pdfsDeadLettered: number;
  loadAverage: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function producePdfs(ns: Namespace, pdfs: Uint8Array[]): Promise<void> {
  const store = createObjectStore(ns.config);
  const producer = await createRawProducer(createKafka(ns.config, createLogger({ level: 'warn' })), createSerde(createRegistry(ns.config)), ns.topology.topics.raw, ns.topology.topics.extract);
  try {
    const envelopes: SubmissionEnvelope[] = [];
    for (const [i, pdf] of pdfs.entries()) {
      // Each copy differs by a trailing comment after %%EOF, so each is its own submission.
      const bytes = Buffer.concat([pdf, Buffer.from(`\n%bench ${i}\n%%EOF\n`)]);
      const sha256 = sha256Hex(bytes);
      const objectKey = attachmentKey(sha256);
      await store.putIfAbsent(objectKey, bytes, { contentType: 'application/pdf', contentLength: bytes.length });
      const document = { name: `bench-${i}.pdf`, kind: 'application', contentType: 'application/pdf', size: bytes.length, sha256, objectKey };
      envelopes.push({ submissionHash: submissionHashOf(sha256, []), source: 'bench-pdf', sourceClient: null, sourceReference: null, receivedAt: Date.now(), payload: { contentType: 'application/pdf', size: bytes.length, sha256, inline: null, objectKey }, attachments: [], traceparent: null, applicationDocument: document });
    }
    await producer.send(envelopes);
  } finally {
    await producer.close();
    store.close();
  }
}

async function progress(ns: Namespace): Promise<{ json: number; received: number; pdfs: number; dead: number }> {
  const { rows } = await ns.pool.query<{ json: string; received: string; pdfs: string; dead: string }>(
    `SELECT count(*) FILTER (WHERE status IN ('accepted', 'rejected') AND source <> 'bench-pdf') AS json,
            count(*) AS received,
            count(*) FILTER (WHERE status IN ('accepted', 'rejected') AND source = 'bench-pdf') AS pdfs,
            count(*) FILTER (WHERE status = 'dead_lettered') AS dead
       FROM submissions`,
  );
  return { json: Number(rows[0]!.json), received: Number(rows[0]!.received), pdfs: Number(rows[0]!.pdfs), dead: Number(rows[0]!.dead) };
}

async function deadLetters(ns: Namespace): Promise<Record<string, number>> {
  const { rows } = await ns.pool.query<{ error: string; n: string }>(`SELECT error_class AS error, count(*) AS n FROM dead_letters GROUP BY 1`);
  return Object.fromEntries(rows.map((r) => [r.error, Number(r.n)]));
}

/**
 * `all`: one `run all` process, the extractor's event loop beside the other stages'. `stages`: one
 * process per stage as deployed (bench/e2e's stages and the extractor), so the extractor's work is
 * its own process's, scheduled by the kernel against theirs.
 */
export async function mixedRun(rows: number, pdfs: Uint8Array[], layout: Layout = 'all', timeoutMs = 600_000): Promise<MixedRun> {
  // Each run its own lookup cache: the second must not ride on the first one's cached answers.
  const ns = await createNamespace({ WINDOW_MAX_AGE_MS: '2000', EXTRACT_TIMEOUT_MS: '300000', LOOKUPS_REDIS_PREFIX: `permitflow:bench-extract:${randomBytes(4).toString('hex')}:` });
  const stages = [];
  try {
    await produceApplications(ns.config, ns.topology, rows);
    if (pdfs.length > 0) await producePdfs(ns, pdfs);
    for (const name of layout === 'all' ? ['all'] : ['extractor', ...STAGES]) stages.push(spawnStage(name, { env: ns.env, metricsPort: await freePort() }));
    const exits = watchExits(stages);
    const deadline = Date.now() + timeoutMs;
    let startedAt: number | undefined;
    let p = await progress(ns);
    for (;;) {
      exits.check();
      p = await progress(ns);
      if (startedAt === undefined && p.received > 0) startedAt = performance.now();
      if (p.json >= rows) break;
      if (Date.now() > deadline) throw new Error(`mixed run timed out: ${JSON.stringify(p)} of ${rows} JSON`);
      await sleep(100);
    }
    const seconds = (performance.now() - (startedAt ?? performance.now())) / 1000;
    return { pdfs: pdfs.length, deadLetters: await deadLetters(ns), jsonDecided: p.json, seconds: Math.round(seconds * 100) / 100, jsonPerSecond: Math.round(p.json / seconds), pdfsDecided: p.pdfs, pdfsDeadLettered: p.dead, loadAverage: Math.round(loadavg()[0]! * 100) / 100 };
  } finally {
    await stopStages(stages, 10_000);
    await ns.cleanup();
  }
}
