/**
 * GET /v1/submissions/{id} shows a submission only to the clients that submitted it and to
 * clerks (`read:any`); another client gets the 404 of an unknown id (issue 14: any `read` key
 * could read every submission).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grants } from '../../connectors/intake/api-keys.ts';
import type { SubmissionStatus } from '../../connectors/intake/status.ts';
import { testIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

test('a submission is shown to its submitter and to read:any clerks; another client with read gets 404, as for an unknown id', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const posted = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: bearer(intake.keys.portal), payload: sampleApplications()[0] });
  assert.equal(posted.statusCode, 202, posted.body);
  const location = posted.headers.location as string;
  const get = (key: string) => intake.app.inject({ method: 'GET', url: location, headers: bearer(key) });

  assert.equal((await get(intake.keys.portal)).statusCode, 200);
  assert.equal((await get(intake.keys.reader)).statusCode, 200, 'a read:any clerk reads every submission');
  const other = await get(intake.keys.otherPortal);
  assert.equal(other.statusCode, 404, other.body);
  const unknown = await intake.app.inject({ method: 'GET', url: `/v1/submissions/${'0'.repeat(64)}`, headers: bearer(intake.keys.otherPortal) });
  assert.deepEqual(other.json(), unknown.json(), 'the refusal says no more than an unknown id does');

  // The other client sends the very same application: it now knows the content, and may read it.
  const again = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: bearer(intake.keys.otherPortal), payload: sampleApplications()[0] });
  assert.equal(again.headers.location, location);
  assert.equal((await get(intake.keys.otherPortal)).statusCode, 200);
});

test('the read model names the submitting client: its submission is the client\'s even without a receipt', async (t) => {
  const id = 'a'.repeat(64);
  const status: SubmissionStatus = { submissionId: id, status: 'accepted', receivedAt: 1000, timeline: [{ state: 'received', at: 1000 }, { state: 'accepted', at: 2000 }], sourceClient: 'portal' };
  const intake = await testIntake({}, { statusSource: { get: (wanted) => Promise.resolve(wanted === id ? status : undefined) } });
  t.after(() => intake.app.close());
  const get = (key: string) => intake.app.inject({ method: 'GET', url: `/v1/submissions/${id}`, headers: bearer(key) });
  assert.equal((await get(intake.keys.portal)).statusCode, 200);
  assert.equal((await get(intake.keys.otherPortal)).statusCode, 404);
  assert.equal((await get(intake.keys.reader)).statusCode, 200);
  assert.equal((await get(intake.keys.submitter)).statusCode, 403, 'no read scope at all is still 403');
});

test('read:any includes read; submit grants neither', () => {
  assert.equal(grants(['read:any'], 'read'), true);
  assert.equal(grants(['read'], 'read:any'), false);
  assert.equal(grants(['submit'], 'read'), false);
});
