/**
 * What a log line may carry of an error: `loggableError` (the logger's `err` serializer) keeps
 * class, code, our typed context and scrubbed messages and frames, never a library's own fields;
 * the intake's request loggers inherit it. The whole pipeline is held to this in
 * test/integration/pii-logs.test.ts.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { loadConfig } from '../../lib/config.ts';
import { loggableError, PermitflowError, scrubText } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { testIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

function capture(): { lines: () => Record<string, unknown>[]; destination: Writable } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { destination, lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('quoted values and URL queries are scrubbed from any text', () => {
  assert.equal(scrubText(`Unexpected token 'Z', "Zebulon Qu"... is not valid JSON`), `Unexpected token '…', "…"... is not valid JSON`);
  assert.equal(scrubText(`where UPPER(SITUS) = '4417 MARIGOLD TERRACE' AND ZIP = '97478'`), `where UPPER(SITUS) = '…' AND ZIP = '…'`);
  assert.equal(scrubText('GET http://gis.example/Parcels/0/query?where=UPPER%28SITUS%29+%3D+%274417%27&f=json failed'), 'GET http://gis.example/Parcels/0/query?… failed');
  assert.equal(scrubText(`invalid "string": "Zebulon \\"Zeb\\" Quxworth"`), `invalid "…": "…"`);
  assert.equal(scrubText("the county's parcel layer can't answer (http://gis.example/Parcels/0/query)"), "the county's parcel layer can't answer (http://gis.example/Parcels/0/query)", 'apostrophes and bare endpoints stay');
});

test('an error is logged with class, code, scrubbed messages of its causes and our context, and nothing a library attached', () => {
  const pg = Object.assign(new Error('invalid input syntax for type integer: "Zebulon"'), { code: '22P02', detail: 'Failing row contains (1, Zebulon Quxworth).', where: 'zq' });
  const redis = Object.assign(new Error('ERR wrong number of arguments'), { command: { name: 'set', args: ['k', '{"address":"4417 Marigold Terrace"}'] } });
  const err = PermitflowError.permanent('PF_LOOKUP_FAILED', 'parcel lookup failed', { cause: pg, context: { api: 'parcels', priorErrors: [`ArcGIS said "4417 Marigold Terrace"`] } });
  const out = loggableError(err);
  assert.equal(out.type, 'PermitflowError');
  assert.equal(out.code, 'PF_LOOKUP_FAILED');
  assert.equal(out.retriable, false);
  assert.equal(out.message, 'parcel lookup failed: invalid input syntax for type integer: "…"');
  assert.deepEqual(out.context, { api: 'parcels', priorErrors: ['ArcGIS said "…"'] });
  assert.match(out.stack!, /^PermitflowError: parcel lookup failed\n {4}at .*\ncaused by: Error: invalid input syntax for type integer: "…"\n {4}at /s);
  assert.deepEqual(loggableError(pg), { type: 'Error', message: 'invalid input syntax for type integer: "…"', code: '22P02', stack: loggableError(pg).stack });
  assert.doesNotMatch(JSON.stringify([out, loggableError(redis)]), /Zebulon|Quxworth|Marigold/i);
  assert.deepEqual(loggableError('boom "Zebulon"'), { type: 'string', message: 'boom "…"' });
});

test('the logger serializes err with it and redacts application fields', () => {
  const { destination, lines } = capture();
  const logger = createLogger({ level: 'debug', destination });
  const [application] = sampleApplications();
  logger.warn({ err: Object.assign(new Error('no row for "Zebulon"'), { row: { name: 'Zebulon' } }), submissionHash: 'ab'.repeat(32) }, 'failed');
  logger.child({ processor: 'decider' }).debug({ application }, 'should never be written, but is redacted');
  const [failed, redacted] = lines();
  assert.deepEqual(failed!.err, { type: 'Error', message: 'no row for "…"', stack: (failed!.err as { stack: string }).stack });
  assert.equal(failed!.submissionHash, 'ab'.repeat(32));
  const app = redacted!.application as { applicant: { name: string; email: string }; site: { address: { line1: string } } };
  assert.deepEqual([app.applicant.name, app.applicant.email, app.site.address.line1], ['[redacted]', '[redacted]', '[redacted]']);
});

test('errors kafkajs logs for our callbacks are scrubbed the same way', () => {
  const { destination, lines } = capture();
  const kafka = createKafka(loadConfig({ PERMITFLOW_ENV_FILE: '/nonexistent/stack.env' }), createLogger({ level: 'debug', destination }));
  const thrown = Object.assign(new Error('no parcel for "4417 Marigold Terrace"'), { row: 'Zebulon Quxworth' });
  kafka.logger().error('Error when calling eachBatch', { topic: 't', partition: 0, stack: thrown.stack, error: thrown });
  kafka.logger().warn('Could not create topics', { error: `bad value 'Zebulon Quxworth'`, retryCount: 1 });
  const [eachBatch, createTopics] = lines();
  assert.equal((eachBatch!.error as { message: string }).message, 'no parcel for "…"');
  assert.match(eachBatch!.stack as string, /^Error: no parcel for "…"\n {4}at /);
  assert.equal(createTopics!.error, `bad value '…'`);
  assert.doesNotMatch(JSON.stringify(lines()), /Zebulon|Quxworth|Marigold/i);
});

test("the intake's request loggers serialize errors the same way", async () => {
  const { destination, lines } = capture();
  const intake = await testIntake({}, { logger: createLogger({ level: 'debug', destination }) });
  intake.sink.failWith = Object.assign(new Error('produce failed for "4417 Marigold Terrace"'), { record: sampleApplications()[0] });
  const response = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { authorization: `Bearer ${intake.keys.portal}`, 'content-type': 'application/json' }, payload: sampleApplications()[0] });
  assert.equal(response.statusCode, 503);
  const failed = lines().find((l) => l.msg === 'request failed');
  assert.ok(failed, JSON.stringify(lines()));
  assert.deepEqual(failed.err, { type: 'Error', message: 'produce failed for "…"', stack: (failed.err as { stack: string }).stack });
  assert.doesNotMatch(JSON.stringify(lines()), /Marigold|Okafor|m\.okafor/i);
  await intake.app.close();
});

test('personal data and secrets are redacted at any depth, in lines and child bindings, without touching the logged object', () => {
  const { destination, lines } = capture();
  const logger = createLogger({ level: 'debug', destination });
  const [sample] = sampleApplications();
  const application = {
    ...sample!,
    applicant: { ...sample!.applicant, name: 'Zebulon Quxworth', organization: 'Quxworth Family Trust' },
    contractor: { companyName: 'Marigold Builders LLC', licenseNumber: 'CCB-1', licenseState: 'OR', phone: '+1 555 0142 8830', email: 'zq@example.net' },
    site: { ...sample!.site, latitude: 44.0521973, longitude: -123.0867531 },
    payment: { amountPaid: 100, currency: 'USD', reference: 'PAY-QUX-77812' },
    extraFields: { OWNER_NAME: 'Zebulon Quxworth' },
  };
  const before = JSON.stringify(application);
  logger.info({ deep: { envelope: { payload: { application } } }, list: [{ application }], credentials: { nested: { password: 'hunter2', apiKey: 'k-1' } } }, 'deep');
  logger.child({ context: { application } }).info('bound');
  assert.equal(JSON.stringify(application), before, 'the logged object is not changed');
  const text = JSON.stringify(lines());
  for (const secret of ['Zebulon', 'Quxworth', 'Marigold', '0142 8830', 'zq@example.net', '44.0521973', '123.0867531', 'PAY-QUX', 'hunter2', 'k-1']) {
    assert.ok(!text.includes(secret), `${secret} reached a line: ${text}`);
  }
  const [deep] = lines();
  const logged = (deep!.deep as { envelope: { payload: { application: typeof application } } }).envelope.payload.application;
  assert.deepEqual([logged.contractor.companyName, logged.applicant.organization, logged.site.latitude, logged.payment.reference, logged.extraFields], ['[redacted]', '[redacted]', '[redacted]', '[redacted]', '[redacted]']);
  assert.equal(logged.contractor.licenseState, 'OR', 'what identifies nobody stays');
  assert.equal(logged.payment.amountPaid, 100);
});
