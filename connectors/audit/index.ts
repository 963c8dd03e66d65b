/**
 * The audit archive: the archiver that writes it, and what `permitflow audit` reads from it.
 */
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { Topology } from '../../topology/topics.ts';
import { runArchiver, type RunningArchiver } from './archiver.ts';
import { lastRootGauge, newestRoot, signingKey } from './roots.ts';
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
    close: () => Promise.resolve(store.close()),
  });
  void store.objectLock().then(
    (lock) => {
      if (lock) deps.logger.info({ bucket: store.bucket, lock }, 'audit bucket has Object Lock');
      else deps.logger.warn({ bucket: store.bucket }, 'audit bucket has no Object Lock: segments are written once by the archiver, but the store itself does not keep them from being overwritten');
    },
    (err: unknown) => deps.logger.warn({ err, bucket: store.bucket }, 'could not read the audit bucket\'s Object Lock configuration'),
  );
  // The root age the alert watches starts from the archive's newest root, not from this start.
  const namespace = deps.topology.options.namespace;
  void newestRoot(store, namespace).then(
    (root) => {
      // No root yet: counted from this start, so an archiver that never manages to seal still alerts.
      lastRootGauge.set({ namespace }, (root ? Date.parse(root.sealedAt) : Date.now()) / 1000);
    },
    (err: unknown) => deps.logger.warn({ err }, 'could not read the newest audit root'),
  );
  return archiver;
}
