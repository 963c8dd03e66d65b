/**
 * The audit archive: the archiver that writes it, and what `permitflow audit` reads from it.
 */
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { Topology } from '../../topology/topics.ts';
import { runArchiver, type RunningArchiver } from './archiver.ts';
import { signingKey } from './roots.ts';
import { createAuditStore } from './store.ts';

export { runArchiver, type RunningArchiver } from './archiver.ts';
export { sealRoot, signingKey, verifyingKey } from './roots.ts';
export { submissionHistory, type History } from './show.ts';
export { createAuditStore, type AuditStore } from './store.ts';
export { archiveChains, verifyArchive, type VerifyReport } from './verify.ts';

export interface ArchiverDeps {
  kafka: Kafka;
  serde: Serde;
  topology: Topology;
  logger: Logger;
}

/** `permitflow run archiver`: its own audit-bucket client and signing key, then the archiver. */
export function startArchiver(config: Config, deps: ArchiverDeps): RunningArchiver {
  const store = createAuditStore(config);
  const archiver = runArchiver({
    ...deps,
    store,
    signingKey: signingKey(config),
    workerId: config.workerId,
    segment: config.audit.segment,
    sealIntervalMs: config.audit.sealIntervalMs,
    ...config.runtime,
  });
  void store.objectLock().then(
    (lock) => {
      if (lock) deps.logger.info({ bucket: store.bucket, lock }, 'audit bucket has Object Lock');
      else deps.logger.warn({ bucket: store.bucket }, 'audit bucket has no Object Lock: segments are written once by the archiver, but the store itself does not keep them from being overwritten');
    },
    (err: unknown) => deps.logger.warn({ err, bucket: store.bucket }, 'could not read the audit bucket\'s Object Lock configuration'),
  );
  const done = archiver.done.finally(() => store.close());
  return { ...archiver, done };
}
