/**
 * Heartbeats while a batch is in hand. kafkajs sends a heartbeat only when the consumer's code
 * asks (between batches, and where the runtime calls `payload.heartbeat()` after each
 * transaction), so a transaction whose handlers run longer than the session timeout (the
 * extractor OCR'ing a burst of scans) lost its partitions mid-batch: the group rebalanced, the
 * batch was redone, and so on for ever. The runtime therefore heartbeats on an interval for as
 * long as a batch is in hand, whatever its handlers do; the client throttles the calls to its
 * own heartbeat interval. confluent (librdkafka) heartbeats from its own thread and its
 * `heartbeat()` is a no-op: there the bound is `max.poll.interval.ms` (stage-client.ts).
 *
 * A heartbeat that fails (the group is rebalancing) is not acted on here: the handlers in hand
 * finish, and the runtime's heartbeat after the transaction meets the same answer and rejoins.
 */
import type { Logger } from '../../lib/logger.ts';


/** Runs `work`, calling `heartbeat` every `intervalMs` until it settles. */
export async function whileHeartbeating<T>(heartbeat: () => Promise<void>, intervalMs: number, logger: Logger, work: () => Promise<T>): Promise<T> {
  let beating = false;
  const timer = setInterval(() => {
    // One heartbeat at a time: a slow answer (a broker under load) does not pile up requests.
    if (beating) return;
    beating = true;
    Promise.resolve()
      .then(heartbeat)
      .catch((err: unknown) => logger.debug({ err }, 'heartbeat during a batch failed: the runtime rejoins after the transaction'))
      .finally(() => (beating = false));
  }, intervalMs);
  // The batch in hand keeps the process alive, not this timer.
  timer.unref();
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
