/** The real dependencies of an import, built from the configuration (CLI and watcher). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createObjectStore, type ObjectStore } from '../object-store.ts';
import { ConfigError, REPO_ROOT, type Config } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import type { Logger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { buildTopology } from '../../topology/topics.ts';
import type { ImportDeps } from './importer.ts';
import { loadMapping, type Mapping } from './mapping.ts';

export const MAPPINGS_DIR = join(REPO_ROOT, 'connectors/file-drop/mappings');

/** A mapping file path, or the name of a shipped mapping (`sf-dbi-building-permits`). */
export function resolveMapping(nameOrPath: string): Mapping {
  if (existsSync(nameOrPath)) return loadMapping(nameOrPath);
  const shipped = join(MAPPINGS_DIR, `${nameOrPath}.yaml`);
  if (/^[a-z0-9][a-z0-9._-]*$/.test(nameOrPath) && existsSync(shipped)) return loadMapping(shipped);
  throw PermitflowError.permanent('PF_MAPPING_INVALID', `${nameOrPath}: no such mapping file, nor a mapping of that name in ${MAPPINGS_DIR}`);
}

export function createImportDeps(config: Config, logger: Logger): ImportDeps & { close(): void } {
  let objectStore: ObjectStore | undefined;
  try {
    objectStore = createObjectStore(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Rows above the inline limit then become bad rows (PF_NO_OBJECT_STORE) instead of stopping the import.
    logger.warn('no object store credentials: rows larger than the inline limit will be dead-lettered');
  }
  return {
    kafka: createKafka(config, logger),
    serde: createSerde(createRegistry(config)),
    topology: buildTopology(config.topology),
    ...(objectStore && { objectStore }),
    logger,
    settings: { ...config.fileDrop, inlineLimitBytes: config.intake.inlineLimitBytes, workerId: config.workerId },
    close: () => objectStore?.close(),
  };
}
