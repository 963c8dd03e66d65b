/**
 * The PDF path end to end for the extraction tests: the intake, the extractor and the stages to
 * a decision, on the lookups harness (county APIs as local servers), with a portal client's key;
 * and a multipart POST whose application part is a PDF.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startProcessors } from '../../cli/processors.ts';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { startIntake } from '../../connectors/intake/server.ts';
import type { Config } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import type { Topology } from '../../topology/topics.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { testTopology } from './stack.ts';

/** The county requires a site plan and drawings with a building permit: they come as attachments. */
export const F100_PLANS = [
  { field: 'site-plan', name: 'site-plan.pdf', bytes: Buffer.from('%PDF-1.4 site plan\n%%EOF\n') },
  { field: 'drawings', name: 'drawings.pdf', bytes: Buffer.from('%PDF-1.4 drawings\n%%EOF\n') },
];

export interface PdfPipeline {
  config: Config;
  topology: Topology;
  intakeUrl: string;
  /** The portal client's API key (scopes submit and read). */
  portalKey: string;
}

/** Intake, extractor, windower, enricher, validator and decider with `env` on top of the harness's; stopped after the test. */
export async function pdfPipeline(t: TestContext, env: Record<string, string>): Promise<PdfPipeline> {
  const keysFile = join(mkdtempSync(join(tmpdir(), 'permitflow-pdf-')), 'api-keys.json');
  // A scan takes seconds alone, minutes on a machine shared by a whole test run: the deadline is not what these tests test.
  const { config } = await startLookupsHarness(t, { INTAKE_API_KEYS_FILE: keysFile, EXTRACT_TIMEOUT_MS: '240000', ...env });
  const topology = await testTopology(t, config);
  const portal = createApiKey(keysFile, { client: 'portal', scopes: ['submit', 'read'] });
  const logger = createLogger({ level: 'warn' });
  const intake = await startIntake(config, { logger, port: 0 });
  t.after(() => intake.close());
  const processors = await startProcessors(config, ['extractor', 'windower', 'enricher', 'validator', 'decider'], logger);
  t.after(() => processors.stop());
  await processors.started;
  return { config, topology, intakeUrl: intake.url, portalKey: portal.key };
}

/** POST /v1/submissions with `pdf` as the application part and `attachments` beside it. */
export async function postPdf(url: string, key: string, pdf: Uint8Array, attachments: ReadonlyArray<{ field: string; name: string; bytes: Buffer }> = F100_PLANS): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.append('application', new Blob([pdf], { type: 'application/pdf' }), 'application.pdf');
  for (const a of attachments) form.append(a.field, new Blob([a.bytes], { type: 'application/pdf' }), a.name);
  const res = await fetch(`${url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
