/**
 * The chaos scenarios: each injects one fault while submissions flow and returns once it has
 * ended. Timings are chosen against the stages' settings in harness.ts (session timeout 10 s).
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { STAGES, type Scenario } from './harness.ts';
import { killStage } from './workload.ts';
import { startKafkaFaultProxy, type KafkaFaultProxy } from './kafka-proxy.ts';
import { CHAOS_KAFKA, restartService, signalService } from './stack.ts';

const SESSION_TIMEOUT_MS = 10_000;

export const brokerKill: Scenario = {
  name: 'broker SIGKILL, restarted after 15 s',
  fault: () => restartService('kafka', 'SIGKILL', 15_000),
};

export const brokerStop: Scenario = {
  name: 'broker SIGSTOP past the session timeout, SIGCONT',
  async fault() {
    signalService('kafka', 'SIGSTOP');
    try {
      await sleep(SESSION_TIMEOUT_MS + 10_000);
    } finally {
      signalService('kafka', 'SIGCONT');
    }
  },
};

export const postgresRestart: Scenario = {
  name: 'PostgreSQL restart (down 10 s)',
  // SIGINT is PostgreSQL's fast shutdown: clients are cut off, as in a crash, but no backend lingers on the port.
  fault: () => restartService('postgres', 'SIGINT', 10_000),
};

export const redisRestart: Scenario = {
  name: 'Redis SIGKILL, restarted after 10 s',
  fault: () => restartService('redis', 'SIGKILL', 10_000),
};

export const minioRestart: Scenario = {
  name: 'MinIO SIGKILL, restarted after 10 s',
  fault: () => restartService('minio', 'SIGKILL', 10_000),
};

/** Every stage SIGKILLed `killsPerStage` times at random moments, in random order, each restarted at once. */
export function stageKills(killsPerStage: number): Scenario {
  return {
    name: `every stage SIGKILLed ${killsPerStage}x at random points`,
    async fault({ stages, respawn, log }) {
      const order = STAGES.flatMap((stage) => Array.from({ length: killsPerStage }, () => stage));
      for (let i = order.length - 1; i > 0; i--) {
        const j = randomInt(0, i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const stage of order) {
        await sleep(randomInt(500, 3_000));
        await killStage(stages.get(stage)!);
        await respawn(stage);
      }
      log(`killed ${order.length} stage processes`);
    },
  };
}

/** The stages reach the broker through a fault proxy: latency, then a black hole, then connection resets. */
export function brokerNetworkFaults(): Scenario {
  let proxy: KafkaFaultProxy | undefined;
  return {
    name: 'TCP proxy: 300 ms latency, 15 s black hole, resets',
    async stageEnv() {
      proxy = await startKafkaFaultProxy(CHAOS_KAFKA);
      return { KAFKA_BROKERS: `127.0.0.1:${proxy.port}` };
    },
    async fault({ log }) {
      const p = proxy!;
      p.setFault({ kind: 'latency', ms: 300 });
      await sleep(15_000);
      p.setFault({ kind: 'drop' });
      await sleep(15_000);
      p.setFault({ kind: 'none' });
      let resets = 0;
      for (let i = 0; i < 6; i++) {
        await sleep(2_000);
        resets += p.resetAll();
      }
      log(`reset ${resets} connections`);
    },
    async cleanup() {
      await proxy?.close();
    },
  };
}

/** The full suite of `make chaos`. */
export function allScenarios(): Scenario[] {
  return [brokerKill, brokerStop, postgresRestart, redisRestart, minioRestart, stageKills(10), brokerNetworkFaults()];
}
