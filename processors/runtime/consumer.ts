/**
 * The stage consumer and its retry pacing live in lib/ (lib/stage-consumer.ts, lib/backoff.ts),
 * shared by the runtime and the connectors that run a stage (the read-model sink); re-exported
 * here for the runtime's modules.
 */
export { createStageConsumer, restartAfterCrash, type RestartOptions, type StageConsumerOptions } from '../../lib/stage-consumer.ts';
export { batchRetryDelay, retryPause } from '../../lib/backoff.ts';
