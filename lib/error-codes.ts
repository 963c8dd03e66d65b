/**
 * Every error code of permitflow, as a typed catalogue: `PermitflowError`'s code is an `ErrorCode`,
 * so a new code is added here (under the module that throws it first) or does not compile, and
 * an operator filtering dead letters or logs by code (`permitflow dlq list --error-class`) can
 * read the whole list in one place. Whether a failure is retried is decided where it is thrown
 * (`PermitflowError.retriable` / `.permanent`) and by `classify()`, not by its code, except the
 * deployment codes of lib/errors.ts (isDeploymentError), which stop the stage.
 */
export const ERROR_CODES = [
  // cli/commands/
  'PF_API_KEY_UNKNOWN',
  'PF_BAD_ARGUMENT',
  'PF_CANARY_FAILED',
  'PF_NOT_FOUND',
  'PF_PLAN_CHART_BLANK',
  'PF_PLAN_OPTION',
  'PF_WEBHOOK_EVENT_TYPES',
  'PF_WEBHOOK_SINCE',
  'PF_WEBHOOK_UNKNOWN',
  // cli/plan/
  'PF_PLAN_CHROMIUM',
  'PF_PLAN_EVENTS_INVALID',
  'PF_PLAN_NO_BENCH',
  'PF_PLAN_NO_FILED_DATE',
  'PF_PLAN_NO_HISTORY',
  'PF_PLAN_SHORT_HISTORY',
  // connectors/
  'PF_BAD_RATE',
  'PF_NO_OBJECT_STORE',
  'PF_OBJECT_STORE',
  'PF_PAYLOAD_CORRUPT',
  'PF_PAYLOAD_MISSING',
  'PF_REPLAY_FAILED',
  'PF_REPLAY_STORE_MISSING',
  // connectors/audit/
  'PF_AUDIT_CHAIN_BROKEN',
  'PF_AUDIT_MANIFEST_UNREADABLE',
  'PF_AUDIT_SEGMENT_CONFLICT',
  'PF_AUDIT_SEGMENT_UNREADABLE',
  'PF_AUDIT_STORE',
  // connectors/file-drop/
  'PF_FILE_DROP_UNSAFE_FOLDER',
  'PF_IMPORT_BAD_DATE',
  'PF_IMPORT_BAD_JSON',
  'PF_IMPORT_BAD_NUMBER',
  'PF_IMPORT_BINARY',
  'PF_IMPORT_CHANGING',
  'PF_IMPORT_COMMIT_FAILED',
  'PF_IMPORT_EMPTY',
  'PF_IMPORT_ENCODING',
  'PF_IMPORT_FENCED',
  'PF_IMPORT_FIELD_COUNT',
  'PF_IMPORT_HARDLINK',
  'PF_IMPORT_INVALID_ROW',
  'PF_IMPORT_MISSING_COLUMNS',
  'PF_IMPORT_NOT_A_FILE',
  'PF_IMPORT_NOT_FOUND',
  'PF_IMPORT_PATTERN',
  'PF_IMPORT_RECORD_TOO_LONG',
  'PF_IMPORT_REQUIRED',
  'PF_IMPORT_SYMLINK',
  'PF_IMPORT_TOO_MANY_BAD_ROWS',
  'PF_IMPORT_UNKNOWN_CODE',
  'PF_IMPORT_UNREADABLE',
  'PF_MAPPING_INVALID',
  'PF_TOPOLOGY_MISSING',
  // connectors/intake/
  'PF_API_KEYS_INVALID',
  'PF_API_KEY_CLIENT',
  'PF_API_KEY_SCOPES',
  'PF_PRODUCE_TIMEOUT',
  // connectors/lookups/
  'PF_BREAKER_OPEN',
  'PF_LOOKUP_ABORTED',
  'PF_LOOKUP_BAD_RESPONSE',
  'PF_LOOKUP_FAILED',
  'PF_LOOKUP_NETWORK',
  'PF_LOOKUP_RATE_LIMITED',
  'PF_LOOKUP_RATE_LIMIT_UNAVAILABLE',
  'PF_LOOKUP_REJECTED',
  'PF_LOOKUP_THROTTLED',
  'PF_LOOKUP_TIMEOUT',
  'PF_LOOKUP_UNAVAILABLE',
  // connectors/pdf/
  'PF_FORM_MAPPING_INVALID',
  'PF_PDF_EMBEDDED_FILE',
  'PF_PDF_ENCRYPTED',
  'PF_PDF_FIELDS_UNREADABLE',
  'PF_PDF_IMAGE_TOO_LARGE',
  'PF_PDF_JAVASCRIPT',
  'PF_PDF_MALFORMED',
  'PF_PDF_NOT_PDF',
  'PF_PDF_NO_FORM',
  'PF_PDF_TIMEOUT',
  'PF_PDF_TOO_COMPLEX',
  'PF_PDF_TOO_MANY_PAGES',
  'PF_PDF_TRUNCATED',
  'PF_PDF_UNREADABLE',
  // connectors/read-model/
  'PF_MIGRATION_CHANGED',
  'PF_MIGRATION_FAILED',
  'PF_READ_MODEL_REFUSED',
  // connectors/webhooks/
  'PF_WEBHOOK_TARGET_REFUSED',
  // domain/
  'PF_FEE_SCHEDULE_INVALID',
  'PF_FEE_SCHEDULE_UNREADABLE',
  'PF_IMPORT_UNSAFE_NAME',
  'PF_PAYLOAD_NOT_JSON',
  // lib/
  'PF_ABORTED',
  'PF_NOT_AUTHORISED',
  'PF_READ_TIMEOUT',
  'PF_SCHEMA_NOT_REGISTERED',
  'PF_TOPIC_MISSING',
  // processors/decider/
  'PF_RULE_SET_UNKNOWN',
  // processors/enricher/
  'PF_LOOKUP_EXHAUSTED',
  'PF_PAYLOAD_UNREADABLE',
  // processors/extractor/
  'PF_EXTRACT_NOT_CLAIM_CHECKED',
  'PF_EXTRACT_NOT_PDF',
  'PF_INVALID_ENVELOPE',
  // processors/runtime/
  'PF_ATTEMPTS_EXHAUSTED',
  'PF_EMPTY_RECORD',
  'PF_INVALID_RECORD',
  'PF_RECORD_REFUSED',
  'PF_RECORD_TOO_LARGE',
  'PF_REGISTRY_UNAVAILABLE',
  'PF_RESTORE_TIMEOUT',
  'PF_RETRIES_EXHAUSTED',
  // processors/validator/
  'PF_PAYLOAD_NOT_APPLICATION',
  // schemas/
  'PF_DECODE_FAILED',
  'PF_ENCODE_FAILED',
  'PF_SCHEMA_INCOMPATIBLE',
  // topology/
  'PF_TOPIC_NOT_READY',
  'PF_TOPOLOGY_PARTITIONS',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES);

/** Whether a string read from outside (a dead letter, a command-line filter) names a catalogued code. */
export const isErrorCode = (code: string): code is ErrorCode => KNOWN.has(code);
