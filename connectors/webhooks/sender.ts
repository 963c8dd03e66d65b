/**
 * One webhook attempt: the event's body, signed per the Standard Webhooks specification
 * (`webhook-id` = the stable event id, `webhook-timestamp` = this attempt, `webhook-signature`
 * = `v1,<base64 HMAC-SHA256>` by the `standardwebhooks` package), POSTed through the SSRF
 * guard. Redirects are never followed (undici's `request` does not, and a 3xx is a failure),
 * and every attempt has one deadline.
 */
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { PermitflowError } from '../../lib/errors.ts';
import { checkUrl, guardedLookup, TARGET_REFUSED, type TargetPolicy } from './target-guard.ts';

export interface SenderOptions extends TargetPolicy {
  /** Budget of one attempt: connect, headers and body. */
  timeoutMs: number;
}

export interface Delivery {
  eventId: string;
  url: string;
  secret: string;
  body: string;
}

export interface AttemptResult {
  ok: boolean;
  /** HTTP status when the subscriber answered. */
  status?: number;
  /** Why it failed: no body text of the subscriber's, no secret. */
  error?: string;
  /** The SSRF guard refused the target: retrying cannot help. */
  refused?: boolean;
}

export interface WebhookSender {
  send(delivery: Delivery, signal?: AbortSignal): Promise<AttemptResult>;
  close(): Promise<void>;
}

const signers = new Map<string, Webhook>();
function signerFor(secret: string): Webhook {
  let signer = signers.get(secret);
  if (!signer) {
    signer = new Webhook(secret);
    signers.set(secret, signer);
  }
  return signer;
}

/** The three Standard Webhooks headers of one attempt. */
export function signedHeaders(delivery: Pick<Delivery, 'eventId' | 'secret' | 'body'>, at = new Date()): Record<string, string> {
  return {
    'webhook-id': delivery.eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signerFor(delivery.secret).sign(delivery.eventId, at, delivery.body),
  };
}

export function createWebhookSender(options: SenderOptions): WebhookSender {
  const agent = new Agent({
    connect: { lookup: guardedLookup(options), timeout: options.timeoutMs },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    keepAliveTimeout: 10_000,
    connections: 8,
  });
  return {
    async send(delivery, signal) {
      let url: URL;
      try {
        url = checkUrl(delivery.url, options);
      } catch (err) {
        return { ok: false, refused: true, error: (err as Error).message };
      }
      const deadline = AbortSignal.timeout(options.timeoutMs);
      try {
        const response = await request(url, {
          dispatcher: agent,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'permitflow-webhooks', ...signedHeaders(delivery) },
          body: delivery.body,
          signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
        });
        // Only the status matters; the body is drained (and bounded by the deadline) to free the connection.
        await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        const status = response.statusCode;
        if (status >= 200 && status < 300) return { ok: true, status };
        if (status >= 300 && status < 400) return { ok: false, status, error: `redirect refused (HTTP ${status}): webhooks follow no redirects` };
        return { ok: false, status, error: `HTTP ${status}` };
      } catch (err) {
        const refusal = refusalIn(err);
        return refusal ? { ok: false, refused: true, error: refusal.message } : { ok: false, error: describe(err) };
      }
    },
    async close() {
      await agent.close();
    },
  };
}

/** The SSRF guard's refusal anywhere in the chain undici wrapped it in. */
function refusalIn(err: unknown): PermitflowError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof PermitflowError && e.code === TARGET_REFUSED) return e;
  }
  return undefined;
}

/** A short cause naming the network failure, never a stack or a body. */
function describe(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out';
  return [e.code, e.message].filter(Boolean).join(': ') || 'request failed';
}
