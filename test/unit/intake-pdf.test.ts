/**
 * The intake takes an application as a PDF form: the multipart `application` part with type
 * application/pdf is claim-checked like an attachment and its envelope (payload: the PDF) goes
 * to the extraction stage's input; the submission id is the PDF's with the attachments'. A part
 * that says PDF but is not one is refused before anything is stored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { testIntake } from '../support/intake.ts';
import { filledF100 } from '../support/pdf-forms.ts';

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function pdfForm(pdf: Uint8Array, plans: Buffer | null): Promise<{ payload: Buffer; contentType: string }> {
  const form = new FormData();
  form.append('application', new Blob([pdf], { type: 'application/pdf' }), 'F100 filled.pdf');
  if (plans) form.append('site-plan', new Blob([plans], { type: 'application/pdf' }), 'site-plan.pdf');
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return { payload: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type')! };
}

test('a PDF application is claim-checked like an attachment and its envelope carries the PDF as payload and document', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const pdf = Buffer.from(await filledF100());
  const plans = Buffer.from('%PDF-1.4 site plan\n%%EOF\n');
  const body = await pdfForm(pdf, plans);
  const res = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { ...bearer(intake.keys.portal), 'content-type': body.contentType }, payload: body.payload });
  assert.equal(res.statusCode, 202, res.body);

  const sha256 = sha256Hex(pdf);
  const planSha = sha256Hex(plans);
  const id = submissionHashOf(sha256, [{ kind: 'site-plan', sha256: planSha }]);
  assert.equal(res.json<{ submissionId: string }>().submissionId, id);
  const [envelope, ...more] = intake.sink.envelopes;
  assert.equal(more.length, 0);
  assert.equal(envelope!.submissionHash, id);
  assert.deepEqual(envelope!.payload, { contentType: 'application/pdf', size: pdf.length, sha256, inline: null, objectKey: `attachments/${sha256}` });
  assert.deepEqual(envelope!.applicationDocument, { name: 'F100 filled.pdf', kind: 'application', contentType: 'application/pdf', size: pdf.length, sha256, objectKey: `attachments/${sha256}` });
  assert.deepEqual(envelope!.attachments.map((a) => a.kind), ['site-plan']);
  assert.deepEqual(intake.store.objects.get(`attachments/${sha256}`), pdf);
});

test('a part that says application/pdf but is not a PDF is a 415 and nothing is stored or sent', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const body = await pdfForm(Buffer.from('{"jurisdiction":"us-or-cedar-county"}'), null);
  const res = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { ...bearer(intake.keys.portal), 'content-type': body.contentType }, payload: body.payload });
  assert.equal(res.statusCode, 415);
  assert.match(res.json<{ detail: string }>().detail, /says application\/pdf but is not a PDF/);
  assert.deepEqual(intake.sink.envelopes, []);
  assert.deepEqual(intake.store.puts, []);
});
