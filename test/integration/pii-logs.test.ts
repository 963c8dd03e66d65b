/**
 * No personal data reaches a log line, anywhere in the pipeline. The real processes run as
 * child processes at LOG_LEVEL=debug (`permitflow intake`, `permitflow run all` with the read
 * model, `permitflow import`), against the county API fixtures, and every line they write to
 * stdout or stderr is kept. Submissions full of distinctive personal data then take every path
 * that tends to leak: accepted (multipart, attachments), rejected by the rules, a parcel looked
 * up by address and not found, refused by the intake's validation (422) and as invalid JSON
 * (400), an Idempotency-Key reused with another body (422), URLs carrying personal data (404),
 * a CSV import with good rows and bad rows (mapper and schema failures, a malformed row), and a
 * lookup API failing with an error that echoes the query until the submission is dead-lettered.
 *
 * Once every submission reached its terminal state (read model) and the processes stopped:
 * no marker appears in any line, in any case, URL-encoded or as digits only; the processes'
 * lines are pino JSON; and every submission has lines naming its hash (redaction did not just
 * silence everything). A second test feeds the windower a raw-topic record keyed by an e-mail
 * address.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { canonicalPayload } from '../../domain/hashing.ts';
import { loadPayload } from '../../connectors/claim-check.ts';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { DeadLetter, PermitApplication, SubmissionEnvelope } from '../../schemas/types.ts';
import { SITES } from '../fixtures/lookups/cedar-county.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { sampleApplications } from '../support/samples.ts';
import { testConfig, testTopology } from '../support/stack.ts';
import { readModelPool, uniqueSchema } from './read-model-helpers.ts';
import { freePort } from '../support/ports.ts';

/** Personal data no log line may carry, in any form. */
const PII = {
  applicantName: 'Zebulon Quxworth',
  applicantEmail: 'zq-applicant@example.org',
  applicantPhone: '+1 555 0199 7311',
  line1: '4417 Marigold Terrace',
  line2: 'Suite Quillfeather 5B',
  contractorPhone: '+1 555 0142 8830',
  contractorEmail: 'zq-contractor@example.net',
  attachmentName: 'quxworth-family-site-plan.pdf',
  applicantOrganization: 'Vexmoor Holdings Trust',
  contractorCompany: 'Xandrel Quorvix Construction',
  paymentReference: 'PAYREF-QX-7731-9024',
};
/** Where a site is, to the metre: its parcel's point moved by a distinctive few metres (still on the parcel). */
const COORDINATE_OFFSET = { lat: 0.0000137, lon: -0.0000173 };
/** The coordinates given to submissions, as they would print; filled by withPii. */
const COORDINATES = new Set<string>();
/** Parts of the markers that must not appear on their own either (a name split, a phone reformatted). */
const TOKENS = ['Zebulon', 'Quxworth', 'Marigold', 'Quillfeather', 'zq-applicant', 'zq-contractor', '0199 7311', '0142 8830', 'Vexmoor', 'Xandrel', 'Quorvix', '7731-9024'];

/** Every form a marker could take in a line: as is, URL-encoded (path and form), digits only. */
function forbiddenForms(): string[] {
  const forms = new Set<string>();
  for (const value of [...Object.values(PII), ...TOKENS, ...COORDINATES]) {
    forms.add(value);
    forms.add(encodeURIComponent(value));
    forms.add(new URLSearchParams({ v: value }).toString().slice(2));
    const digits = value.replace(/\D/g, '');
    if (digits.length >= 8) forms.add(digits);
  }
  return [...forms].map((f) => f.toLowerCase());
}

/** Lines holding a marker in any form, with the form found. */
function leaks(lines: Line[]): string[] {
  const forms = forbiddenForms();
  return lines.flatMap((l) => forms.filter((f) => l.text.toLowerCase().includes(f)).map((f) => `${l.process} ${l.stream} [${f}]: ${l.text}`));
}

/**
 * An application carrying every marker: coordinates on its own parcel when it names one (a site
 * without a parcel keeps being looked up by address), a payment reference when it pays.
 */
function withPii(application: PermitApplication, reference: string): PermitApplication {
  const site = Object.values(SITES).find((s) => 'apn' in s && s.apn === application.site.parcelNumber);
  const coordinates = site && { latitude: Number((site.lat + COORDINATE_OFFSET.lat).toFixed(7)), longitude: Number((site.lon + COORDINATE_OFFSET.lon).toFixed(7)) };
  if (coordinates) for (const c of [coordinates.latitude, coordinates.longitude]) COORDINATES.add(String(c));
  return {
    ...application,
    sourceReference: reference,
    site: { ...application.site, ...coordinates, address: { ...application.site.address, line1: PII.line1, line2: PII.line2 } },
    applicant: { ...application.applicant, name: PII.applicantName, email: PII.applicantEmail, phone: PII.applicantPhone, organization: PII.applicantOrganization },
    contractor: { licenseNumber: 'CCB-214580', licenseState: 'OR', ...application.contractor, companyName: PII.contractorCompany, phone: PII.contractorPhone, email: PII.contractorEmail },
    ...(application.payment && { payment: { ...application.payment, reference: PII.paymentReference } }),
  };
}

interface Line {
  process: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

interface Captured {
  lines: Line[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first JSON line matching `predicate`; rejects if the process exits first. */
  logLine(what: string, predicate: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** SIGTERM, then resolves once the process exited and every line of it was read. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const parse = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/** `permitflow <args>` as a child process; every line of its stdout and stderr lands in `all`. */
function capture(t: TestContext, name: string, args: string[], env: Record<string, string>, all: Line[]): Captured {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  const waiters = new Set<{ predicate: (entry: Record<string, unknown>) => boolean; resolve: (entry: Record<string, unknown>) => void }>();
  const read = (stream: 'stdout' | 'stderr') => {
    const reader = createInterface({ input: child[stream], crlfDelay: Infinity });
    reader.on('line', (text) => {
      const line = { process: name, stream, text };
      lines.push(line);
      all.push(line);
      const entry = parse(text);
      if (!entry) return;
      for (const waiter of waiters) {
        if (waiter.predicate(entry)) {
          waiters.delete(waiter);
          waiter.resolve(entry);
        }
      }
    });
    return once(reader, 'close');
  };
  const drained = Promise.all([read('stdout'), read('stderr')]);
  const exited = once(child, 'exit').then(async ([code, signal]) => {
    await drained;
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    if (process.env.PERMITFLOW_TEST_CHILD_LOGS) console.error(`--- ${name} ---\n${lines.map((l) => l.text).join('\n')}`);
  });
  return {
    lines,
    exited,
    logLine(what, predicate) {
      const seen = lines.map((l) => parse(l.text)).find((e) => e !== undefined && predicate(e));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.add({ predicate, resolve });
        void exited.then(({ code, signal }) => reject(new Error(`${name} exited (${code ?? signal}) before ${what}:\n${lines.slice(-30).map((l) => l.text).join('\n')}`)));
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}


const CSV_MAPPING = `
name: pii-legacy-export
format: csv
reference: Ref
fields:
  jurisdiction: { const: us-or-cedar-county }
  sourceReference: { column: Ref, required: true }
  permitType: { column: Type, required: true }
  permitClass: { const: Residential }
  workClass: { column: Work, required: true }
  description: { column: Description, required: true }
  site.address.line1: { column: Street, required: true }
  site.address.line2: { column: Unit }
  site.address.city: { const: Cedar Falls }
  site.address.state: { const: OR }
  site.address.postalCode: { column: Zip, required: true }
  site.parcelNumber: { column: APN }
  applicant.name: { column: Applicant, required: true }
  applicant.organization: { column: Organization }
  applicant.email: { column: Email }
  applicant.phone: { column: Phone, pattern: '^\\+?[0-9 ()-]{7,20}$' }
  contractor.companyName: { column: Contractor }
  contractor.licenseNumber: { column: License }
  contractor.phone: { column: Contractor Phone }
  contractor.email: { column: Contractor Email }
  project.estimatedCost: { column: Cost }
`;

function csvRow(cells: Record<string, string>): string {
  const columns = ['Ref', 'Type', 'Work', 'Description', 'Street', 'Unit', 'Zip', 'APN', 'Applicant', 'Organization', 'Email', 'Phone', 'Contractor', 'License', 'Contractor Phone', 'Contractor Email', 'Cost'];
  return columns.map((c) => `"${(cells[c] ?? '').replaceAll('"', '""')}"`).join(',');
}

function legacyExport(): string {
  const person = { Street: PII.line1, Unit: PII.line2, Zip: '97402', Applicant: PII.applicantName, Organization: PII.applicantOrganization, Email: PII.applicantEmail, Phone: PII.applicantPhone, Contractor: PII.contractorCompany, License: 'CCB-198877', 'Contractor Phone': PII.contractorPhone, 'Contractor Email': PII.contractorEmail };
  const header = 'Ref,Type,Work,Description,Street,Unit,Zip,APN,Applicant,Organization,Email,Phone,Contractor,License,Contractor Phone,Contractor Email,Cost';
  return [
    header,
    // Good rows: an electrical permit where one is still open (rejected), an addition (decided either way).
    csvRow({ ...person, Ref: 'LEG-1', Type: 'Electrical', Work: 'Alteration', Description: 'Solar PV and panel upgrade', APN: SITES.willowBend.apn, Cost: '24300' }),
    csvRow({ ...person, Ref: 'LEG-2', Type: 'Building', Work: 'Addition', Description: 'Rear addition', APN: SITES.alderCreek.apn, Cost: '86500' }),
    // Bad rows: a phone the mapping's pattern refuses, a cost that is not a number, an e-mail the schema refuses.
    csvRow({ ...person, Ref: 'LEG-3', Type: 'Building', Work: 'Alteration', Description: 'Kitchen', Phone: `call ${PII.applicantName}`, Cost: '1000' }),
    csvRow({ ...person, Ref: 'LEG-4', Type: 'Building', Work: 'Alteration', Description: 'Bath', Cost: `${PII.line1} Quxworth` }),
    csvRow({ ...person, Ref: 'LEG-5', Type: 'Building', Work: 'Alteration', Description: 'Deck', Email: `${PII.applicantName} <at> example`, Cost: '1000' }),
    // A malformed row: too few fields.
    `"LEG-6","Building","${PII.applicantName}","${PII.line1}"`,
    '',
  ].join('\n');
}

test('no personal data reaches any log line on any path through the pipeline', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-pii-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keysFile = join(dir, 'api-keys.json');
  const harness = await startLookupsHarness(t, {
    LOG_LEVEL: 'debug',
    READ_MODEL_SCHEMA: uniqueSchema(),
    INTAKE_API_KEYS_FILE: keysFile,
    WINDOW_MAX_AGE_MS: '1000',
    PERMITFLOW_SESSION_TIMEOUT_MS: '6000',
    PERMITFLOW_RETRY_DELAYS_MS: '200,200,200',
    LOOKUPS_RETRIES: '1',
    LOOKUPS_BREAKER_MIN_REQUESTS: '100000',
  });
  const { config } = harness;
  const topology = await testTopology(t, config);
  const pool = await readModelPool(t, config);
  const { key } = createApiKey(keysFile, { client: 'portal', scopes: ['submit', 'read'] });
  const port = await freePort();
  // No metrics endpoint: its fixed port would clash with another run.
  const env = { ...harness.env, LOG_LEVEL: 'debug', READ_MODEL_SCHEMA: config.readModel.schema, INTAKE_API_KEYS_FILE: keysFile, INTAKE_PORT: String(port), METRICS_PORT: '0' };

  const lines: Line[] = [];
  const pipeline = capture(t, 'run all', ['run', 'all'], env, lines);
  const intake = capture(t, 'intake', ['intake'], env, lines);
  await Promise.all([pipeline.logLine('the processors to run', (e) => e.msg === 'running'), intake.logLine('the intake to listen', (e) => e.msg === 'intake listening')]);

  const url = `http://127.0.0.1:${port}/v1/submissions`;
  const auth = { authorization: `Bearer ${key}` };
  const postJson = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const submitted = async (response: Response): Promise<string> => {
    const body = (await response.json()) as { submissionId?: string };
    assert.equal(response.status, 202, JSON.stringify(body));
    return body.submissionId!;
  };
  const [alderCreek, , , riverRoad, haydenBridge] = sampleApplications();

  // Accepted: multipart, with an attachment named after the family.
  const form = new FormData();
  form.append('application', new Blob([JSON.stringify(withPii(alderCreek!, 'PII-HTTP-1'))], { type: 'application/json' }));
  form.append('site-plan', new Blob(['%PDF-1.4 site plan'], { type: 'application/pdf' }), PII.attachmentName);
  form.append('drawings', new Blob(['%PDF-1.4 drawings'], { type: 'application/pdf' }), 'drawings.pdf');
  const accepted = await submitted(await fetch(url, { method: 'POST', headers: { ...auth, 'idempotency-key': '"pii-1"' }, body: form }));

  // Rejected by the rules (no asbestos survey, no payment); then the same key again with another body.
  const rejectedApplication = withPii(riverRoad!, 'PII-HTTP-2');
  const rejected = await submitted(await postJson(rejectedApplication, { 'idempotency-key': '"pii-2"' }));
  const replay = await postJson(rejectedApplication, { 'idempotency-key': '"pii-2"' });
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(await submitted(replay), rejected);
  const otherBody = { ...rejectedApplication, description: `Demolish the garage of ${PII.applicantName}` };
  const conflict = await postJson(otherBody, { 'idempotency-key': '"pii-2"' });
  assert.equal(conflict.status, 422);
  assert.match(((await conflict.json()) as { type: string }).type, /idempotency-key-reused/);

  // No parcel at the address: looked up by address (the query carries it), then by point: not found.
  const notFound = await submitted(await postJson(withPii({ ...haydenBridge!, site: { ...haydenBridge!.site, parcelNumber: null } }, 'PII-HTTP-3')));

  // Refused by the intake: schema violations (422 listing fields) and a body that is not JSON (400).
  const invalid = { ...withPii(alderCreek!, 'PII-HTTP-4'), applicant: { name: PII.applicantName, email: `${PII.applicantName} at example`, phone: 5550199 }, [PII.applicantEmail]: PII.line1 };
  const refused = await postJson(invalid);
  assert.equal(refused.status, 422);
  const problem = (await refused.json()) as { errors: { pointer: string }[] };
  assert.ok(problem.errors.some((e) => e.pointer === '/applicant/email'), JSON.stringify(problem));
  const notJson = await postJson(`{"applicant": {"name": "${PII.applicantName}", "email": "${PII.applicantEmail}"`);
  assert.equal(notJson.status, 400);
  // Clients put personal data in URLs too: a route that does not exist, a status look-up by name.
  assert.equal((await fetch(`http://127.0.0.1:${port}/v1/applicants?email=${encodeURIComponent(PII.applicantEmail)}`, { headers: auth })).status, 404);
  assert.equal((await fetch(`${url}/${encodeURIComponent(PII.applicantName)}`, { headers: auth })).status, 404);

  // A legacy export with personal data in its columns, good rows and bad ones.
  const csv = join(dir, 'legacy-export.csv');
  const mapping = join(dir, 'pii-legacy-export.yaml');
  writeFileSync(csv, legacyExport());
  writeFileSync(mapping, CSV_MAPPING);
  const importer = capture(t, 'import', ['import', csv, '--mapping', mapping], env, lines);
  const imported = await importer.exited;
  assert.equal(imported.code, 2, `an import with bad rows exits 2:\n${importer.lines.map((l) => l.text).join('\n')}`);
  assert.ok(importer.lines.some((l) => /read 6 · produced 2 · duplicates 0 · bad rows 4/.test(l.text)), importer.lines.map((l) => l.text).join('\n'));
  const raw = (await readAll<SubmissionEnvelope>(config, topology, 'raw')).map((r) => r.value);
  const fromFile = raw.filter((e) => e.source === 'file-drop').map((e) => e.submissionHash);
  assert.equal(fromFile.length, 2);

  const statuses = async (hashes: string[]) =>
    new Map((await pool.query<{ submission_hash: string; status: string }>('SELECT submission_hash, status FROM submissions WHERE submission_hash = ANY($1)', [hashes])).rows.map((r) => [r.submission_hash, r.status]));
  const terminal = (status: string | undefined) => status === 'accepted' || status === 'rejected' || status === 'dead_lettered';
  const decided = [accepted, rejected, notFound, ...fromFile];
  await waitFor('every submission decided in the read model', async () => [...(await statuses(decided)).values()].filter(terminal).length === decided.length, 180_000, 250);
  const decisions = await statuses(decided);
  assert.deepEqual([accepted, rejected, notFound].map((h) => decisions.get(h)), ['accepted', 'rejected', 'rejected']);
  const reasons = await pool.query<{ code: string }>("SELECT r->>'code' AS code FROM submission_events e, jsonb_array_elements(e.detail->'reasons') r WHERE e.submission_hash = $1 AND e.state = 'rejected'", [notFound]);
  assert.ok(reasons.rows.some((r) => r.code === 'PARCEL_NOT_FOUND'), JSON.stringify(reasons.rows));

  // The parcel layer fails with an error echoing the query, as ArcGIS does for a bad where clause,
  // until the submission has gone through every retry topic to the DLQ.
  const where = `UPPER(SITUS_ADDRESS) = '${PII.line1.toUpperCase()}'`;
  harness.arcgis.inject({ kind: 'body', status: 200, body: { error: { code: 500, message: `Unable to perform query: ${where}`, details: [`where clause: ${where}`] } } }, { path: /\/Parcels\/FeatureServer\/0\/query$/ });
  // Another postal code: the address query is not the one answered (and cached) before.
  const failing = withPii({ ...haydenBridge!, site: { ...haydenBridge!.site, parcelNumber: null } }, 'PII-HTTP-5');
  failing.site.address.postalCode = '97478';
  const deadLettered = await submitted(await postJson(failing));
  await waitFor('the failing submission in a terminal state', async () => terminal((await statuses([deadLettered])).get(deadLettered)), 120_000, 250);
  assert.equal((await statuses([deadLettered])).get(deadLettered), 'dead_lettered');
  harness.arcgis.heal();
  const letters = async () => (await pool.query<{ stage: string; error_class: string }>('SELECT stage, error_class FROM dead_letters')).rows;
  await waitFor('the bad rows in the read model', async () => (await letters()).filter((l) => l.stage === 'importer').length === 4);
  assert.ok((await letters()).some((l) => l.stage === 'enricher' && l.error_class === 'PF_LOOKUP_EXHAUSTED'), JSON.stringify(await letters()));

  // The personal data did travel: in the payloads, and in the parcel queries' URLs.
  const payloads = await Promise.all(raw.map(async (e) => (await loadPayload(undefined, e.payload)).toString('utf8')));
  for (const value of [PII.applicantName, PII.applicantEmail, PII.line1, PII.contractorPhone]) assert.ok(payloads.some((p) => p.includes(value)), `${value} is in a payload`);
  assert.ok(harness.arcgis.requests.some((r) => (r.query.get('where') ?? '').includes(PII.line1.toUpperCase())), 'the address went into a parcel query');

  const stopped = await Promise.all([intake.stop(), pipeline.stop()]);
  assert.deepEqual(stopped, [{ code: 0, signal: null }, { code: 0, signal: null }], 'both stop cleanly on SIGTERM');

  // (a) No marker in any line, in any form.
  for (const name of ['run all', 'intake', 'import']) assert.ok(lines.some((l) => l.process === name), `no line captured from ${name}`);
  const found = leaks(lines);
  assert.deepEqual(found, [], `personal data in ${found.length} log line(s)`);

  // (b) The processes log pino JSON, and every submission has lines naming its hash.
  const entries = lines.map((l) => ({ line: l, entry: parse(l.text) }));
  const isPino = (entry: Record<string, unknown> | undefined) => entry !== undefined && typeof entry.level === 'number' && typeof entry.time === 'string' && typeof entry.msg === 'string';
  const notPino = entries.filter(({ line, entry }) => line.process !== 'import' && !isPino(entry));
  assert.deepEqual(notPino.map(({ line }) => `${line.process}: ${line.text}`), [], 'every line of the intake and the processors is a pino JSON line');
  assert.ok(entries.some(({ line, entry }) => line.process === 'import' && isPino(entry)), 'the importer logs pino JSON (besides its summary)');
  const hashes = [accepted, rejected, notFound, deadLettered, ...fromFile];
  for (const hash of hashes) assert.ok(entries.some(({ entry }) => entry?.submissionHash === hash), `no log line names submission ${hash}`);
  const conflictHash = canonicalPayload(otherBody).hash;
  assert.ok(entries.some(({ line, entry }) => line.process === 'intake' && entry?.submissionHash === conflictHash), 'the refused Idempotency-Key reuse is logged with its hash');
  assert.ok(entries.some(({ entry }) => entry?.processor === 'enricher' && entry.submissionHash === deadLettered && entry.msg === 'record dead-lettered'), 'the dead letter names its submission');
});

test(
  'a raw-topic record keyed by personal data does not put its key in a log line',
  async (t) => {
    // Inter-agency systems produce to the raw topic themselves; one keys its records by the applicant's e-mail.
    const config = await testConfig({ PERMITFLOW_SESSION_TIMEOUT_MS: '6000' });
    const topology = await testTopology(t, config);
    const env = { LOG_LEVEL: 'debug', PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, PERMITFLOW_PARTITIONS: String(config.topology.partitions), METRICS_PORT: '0' };
    const lines: Line[] = [];
    const windower = capture(t, 'run windower', ['run', 'windower'], env, lines);
    await windower.logLine('the windower to run', (e) => e.msg === 'running');

    const payload = canonicalPayload(withPii(sampleApplications()[0]!, 'AGENCY-1'));
    const envelope: SubmissionEnvelope = {
      submissionHash: payload.hash,
      source: 'agency',
      sourceClient: 'agency-odot',
      sourceReference: 'AGENCY-1',
      receivedAt: Date.now(),
      payload: { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash, inline: payload.bytes, objectKey: null },
      attachments: [],
      traceparent: null,
    };
    const producer = createKafka(config, createLogger({ level: 'warn' })).producer();
    await producer.connect();
    await producer.send({ topic: topology.topics.raw.name, messages: [{ key: PII.applicantEmail, value: await createSerde(createRegistry(config)).encode(topology.topics.raw, envelope) }] });
    await producer.disconnect();
    await waitFor('the record dead-lettered (its key is not its hash)', async () => (await readAll<DeadLetter>(config, topology, 'dlq')).length === 1);
    assert.deepEqual(await windower.stop(), { code: 0, signal: null });

    assert.ok(lines.some((l) => parse(l.text)?.msg === 'record dead-lettered'), 'the dead letter is logged');
    const found = leaks(lines);
    assert.deepEqual(found, [], `personal data in ${found.length} log line(s)`);
  },
);
