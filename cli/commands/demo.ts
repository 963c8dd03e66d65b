/**
 * `permitflow demo`: the main job on the local stack, end to end. It applies the topology,
 * starts every processor and the read model, starts the county API stand-ins (the ArcGIS and
 * SODA fixture servers) and the HTTP intake, submits the sample applications over HTTP (with
 * their PDF attachments, as multipart) and one PDF application (the real NJ UCC F100 form, filled
 * in: the extractor reads its fields), imports a real legacy export, waits until every submission
 * reached a decision, and prints a summary (accepted, rejected by reason, DLQ) and two audit traces.
 *
 * Batches close after 2 s of age here (WINDOW_MAX_AGE_MS, unless set), so the demo does not wait
 * the production default of 15 minutes.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { createReadModelPool } from '../../connectors/read-model/index.ts';
import type { Config } from '../../lib/config.ts';
import type { PermitApplication } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { formatTimeline } from './trace.ts';

/** Repository root for the defaults of `--help` (lib/config.ts's REPO_ROOT, without loading it). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

/** Documents the sample applicants attach (by position in the samples file), as their kinds. */
const SAMPLE_ATTACHMENTS = [['site-plan', 'drawings'], [], ['drawings'], [], ['site-plan', 'erosion-control-plan']];

/** Posts each application: as multipart with its PDF attachments, or as plain JSON. */
async function submitOverHttp(url: string, key: string, applications: PermitApplication[]): Promise<string[]> {
  const hashes: string[] = [];
  const run = Date.now().toString(36);
  for (const [n, application] of applications.entries()) {
    const headers = { authorization: `Bearer ${key}`, 'idempotency-key': `"demo-${run}-${n}"` };
    const kinds = SAMPLE_ATTACHMENTS[n] ?? [];
    let response: Response;
    if (kinds.length > 0) {
      const form = new FormData();
      form.append('application', new Blob([JSON.stringify(application)], { type: 'application/json' }));
      for (const kind of kinds) form.append(kind, new Blob([PDF, kind], { type: 'application/pdf' }), `${kind}.pdf`);
      response = await fetch(`${url}/v1/submissions`, { method: 'POST', headers, body: form });
    } else {
      response = await fetch(`${url}/v1/submissions`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(application) });
    }
    const body = (await response.json()) as { submissionId?: string; detail?: string };
    console.log(`  POST ${application.sourceReference ?? '-'}${kinds.length ? ` + ${kinds.join(', ')}` : ''} → ${response.status} ${response.headers.get('location') ?? body.detail ?? ''}`);
    if (response.status !== 202 || !body.submissionId) throw new Error(`the intake refused a sample application: ${response.status} ${JSON.stringify(body)}`);
    hashes.push(body.submissionId);
  }
  return hashes;
}

/** Posts a PDF application: the form as the multipart `application` part, with the plans the county asks for. */
async function submitPdfOverHttp(url: string, key: string, pdf: Uint8Array): Promise<string> {
  const form = new FormData();
  form.append('application', new Blob([pdf], { type: 'application/pdf' }), 'nj-ucc-f100.pdf');
  for (const kind of ['site-plan', 'drawings']) form.append(kind, new Blob([PDF, kind], { type: 'application/pdf' }), `${kind}.pdf`);
  const response = await fetch(`${url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  const body = (await response.json()) as { submissionId?: string; detail?: string };
  console.log(`  POST nj-ucc-f100.pdf (a filled PDF form) + site-plan, drawings → ${response.status} ${response.headers.get('location') ?? body.detail ?? ''}`);
  if (response.status !== 202 || !body.submissionId) throw new Error(`the intake refused the PDF application: ${response.status} ${JSON.stringify(body)}`);
  return body.submissionId;
}

/**
 * Resolves once the windower has read everything on the raw topic and the read model shows no
 * submission mid-way, steadily for a few polls (the read model may trail the windower briefly).
 */
async function settled(config: Config, topology: Topology, pool: ReturnType<typeof createReadModelPool>, timeoutMs: number): Promise<void> {
  const [{ createKafka }, { fetchGroupLag }, { createLogger }] = await Promise.all([import('../../lib/kafka.ts'), import('../../lib/lag.ts'), import('../../lib/logger.ts')]);
  const admin = createKafka(config, createLogger({ level: 'warn' })).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    let steady = 0;
    let last = '';
    while (Date.now() < deadline) {
      // The raw and extract topics are written without transactions, so their lag is exact (no commit markers). A PDF
      // is on raw only once the extractor has read it.
      const [{ lag: rawLag }, { lag: extractLag }] = await Promise.all([
        fetchGroupLag(admin, topology.group('windower'), [topology.topics.raw.name]),
        fetchGroupLag(admin, topology.group('extractor'), [topology.topics.extract.name]),
      ]);
      const lag = rawLag + extractLag;
      const { rows } = await pool.query<{ pending: string; total: string }>(
        "SELECT count(*) FILTER (WHERE status NOT IN ('accepted', 'rejected', 'dead_lettered')) AS pending, count(*) AS total FROM submissions",
      );
      const now = `${rows[0]?.pending}/${rows[0]?.total}`;
      steady = lag === 0 && rows[0]?.pending === '0' && now === last ? steady + 1 : 0;
      last = now;
      if (steady >= 3) return;
      await sleep(500);
    }
    throw new Error(`the pipeline did not settle within ${timeoutMs / 1000} s`);
  } finally {
    await admin.disconnect();
  }
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('Run the whole pipeline on the local stack (start it with `permitflow stack up`): HTTP and file submissions to decisions')
    .option('--file <path>', 'JSON array of permit applications to submit over HTTP', join(REPO_ROOT, 'test/fixtures/applications.json'))
    .option('--export <path>', 'legacy CSV export to import', join(REPO_ROOT, 'test/fixtures/exports/sf-dbi-building-permits.csv'))
    .option('--mapping <mapping>', 'mapping of the export', 'sf-dbi-building-permits')
    .action(async (options: { file: string; export: string; mapping: string }) => {
      // Loaded here, not above, like every command's modules: `--help` stays fast.
      const [
        { createImportDeps, resolveMapping },
        { importFile },
        { createApiKey },
        { startIntake },
        { createReadModelPool, migrate, readTimeline },
        { loadConfig, withDemoDefaults },
        { createKafka },
        { createLogger },
        { serveMetrics },
        { startConfiguredTracing },
        { availableProcessors, startProcessors },
        { createRegistry, createSerde },
        { applyTopology },
        { buildTopology },
        { startArcgisFixture },
        { startSodaFixture },
        { filledF100 },
      ] = await Promise.all([
        import('../../connectors/file-drop/deps.ts'),
        import('../../connectors/file-drop/index.ts'),
        import('../../connectors/intake/api-keys.ts'),
        import('../../connectors/intake/server.ts'),
        import('../../connectors/read-model/index.ts'),
        import('../../lib/config.ts'),
        import('../../lib/kafka.ts'),
        import('../../lib/logger.ts'),
        import('../../lib/observability/metrics.ts'),
        import('../../lib/observability/tracing.ts'),
        import('../processors.ts'),
        import('../../schemas/serde.ts'),
        import('../../topology/apply.ts'),
        import('../../topology/topics.ts'),
        import('../../test/fixtures/lookups/arcgis-server.ts'),
        import('../../test/fixtures/lookups/soda-server.ts'),
        import('../../test/support/pdf-forms.ts'),
      ]);
      const config = loadConfig(withDemoDefaults());
      const logger = createLogger({ level: 'warn', name: 'demo' });
      const topology = buildTopology(config.topology);
      const kafka = createKafka(config, logger);
      const admin = kafka.admin();
      await admin.connect();
      const report = await applyTopology(topology, admin, createSerde(createRegistry(config))).finally(() => admin.disconnect());
      console.log(`topology: ${report.created.length} topics created, ${report.schemas.length} schemas registered (BACKWARD)`);

      // Stand-ins for the county's GIS and open-data services, on the configured endpoints.
      const portOf = (url: string) => Number(new URL(url).port);
      const arcgis = await startArcgisFixture({ port: portOf(config.lookups.endpoints.parcels) });
      const soda = await startSodaFixture({ port: portOf(config.lookups.endpoints.permits) });
      const pool = createReadModelPool(config);
      await migrate(pool, config.readModel.schema);
      const tracing = startConfiguredTracing(config.tracing, 'demo');
      // A free port: the demo must not fail because a processor elsewhere holds METRICS_PORT.
      const metrics = await serveMetrics({ host: config.metrics.host, port: 0 }, logger);
      const processors = await startProcessors(config, availableProcessors(), logger);
      const { key } = createApiKey(config.intake.apiKeysFile, { client: 'demo-portal', scopes: ['submit', 'read'] });
      const intake = await startIntake(config, { logger, port: 0 });
      try {
        await processors.started;
        console.log(`processors: ${availableProcessors().join(', ')}; intake on ${intake.url}; metrics on ${metrics.url}`);

        const applications = JSON.parse(readFileSync(options.file, 'utf8')) as PermitApplication[];
        console.log(`submitting ${applications.length} applications over HTTP:`);
        const hashes = await submitOverHttp(intake.url, key, applications);
        const pdfHash = await submitPdfOverHttp(intake.url, key, await filledF100());

        const deps = createImportDeps(config, logger);
        const imported = await importFile(options.export, resolveMapping(options.mapping), deps).finally(() => deps.close());
        const c = imported.counts as unknown as Record<string, number>;
        console.log(`imported ${options.export.replace(`${REPO_ROOT}/`, '')}: ${JSON.stringify(c)} (${imported.status})`);

        console.log('waiting for every submission to reach a decision…');
        await settled(config, topology, pool, 180_000);

        const { rows: statuses } = await pool.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM submissions GROUP BY status ORDER BY status');
        const { rows: reasons } = await pool.query<{ code: string; n: string }>(
          "SELECT r->>'code' AS code, count(*) AS n FROM submission_events e, jsonb_array_elements(e.detail->'reasons') r WHERE e.state = 'rejected' GROUP BY 1 ORDER BY 2 DESC",
        );
        const { rows: letters } = await pool.query<{ stage: string; error_class: string; n: string }>('SELECT stage, error_class, count(*) AS n FROM dead_letters GROUP BY 1, 2 ORDER BY 3 DESC');
        console.log('\nsummary (read model):');
        for (const s of statuses) console.log(`  ${s.status.padEnd(14)} ${s.n}`);
        console.log('  rejected by reason:');
        for (const r of reasons) console.log(`    ${r.code.padEnd(32)} ${r.n}`);
        console.log(`  dead letters: ${letters.length === 0 ? 'none' : letters.map((l) => `${l.stage}/${l.error_class} ${l.n}`).join(', ')}`);

        for (const hash of [hashes[0]!, pdfHash]) {
          const timeline = await readTimeline(pool, hash);
          if (timeline) console.log(`\n${formatTimeline(timeline)}`);
        }
        console.log('\ndemo: ok');
      } finally {
        await intake.close();
        await processors.stop();
        await Promise.all([metrics.close(), tracing.shutdown()]);
        await pool.end();
        await Promise.all([arcgis.close(), soda.close()]);
      }
    });
}
