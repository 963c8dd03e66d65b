/**
 * PostgreSQL for the local stack, from Debian's postgresql package: a private cluster under the
 * stack folder (not the system's), TCP on loopback only, SCRAM passwords for every login.
 * The application's role `permitflow` owns database `permitflow` and is not a superuser.
 *
 * PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system user
 * (or `nobody`) and the server is exec'd through setpriv, which keeps the pid: the pid file names
 * the postmaster itself.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { childEnv, logFile, run, spawnDetached } from '../stack/proc.ts';
import { withTimeout } from '../../lib/timeout.ts';
import { HOST, StackError } from '../stack/service.ts';
import type { Service, StackContext } from '../stack/service.ts';
import { aptInstall, requireTool, which } from '../stack/tools.ts';

const SUPERUSER = 'postgres';
const APP_ROLE = 'permitflow';
const APP_DATABASE = 'permitflow';

/** Newest Debian cluster binaries (/usr/lib/postgresql/<major>/bin), else initdb next to postgres on PATH. */
function findBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const majors = readdirSync(base).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
    for (const major of majors) {
      const bin = join(base, major, 'bin');
      if (existsSync(join(bin, 'postgres')) && existsSync(join(bin, 'initdb'))) return bin;
    }
  }
  const postgres = which('postgres');
  return postgres && existsSync(join(dirname(postgres), 'initdb')) ? dirname(postgres) : undefined;
}

interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

function systemUser(name: string): RunAs | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { user, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

export function postgresService(ctx: StackContext): Service {
  const port = ctx.config.stack.ports.postgres;
  const dir = join(ctx.paths.dir, 'postgres');
  const dataDir = join(dir, 'data');
  const runDir = join(dir, 'run');
  const prepareLog = logFile(ctx.paths, 'postgres.prepare');
  const { postgresSuperPassword, postgresPassword } = ctx.secrets;
  let bin = '';
  let runAs: RunAs | undefined;

  /** Command and arguments that run `command` as the cluster's owner (setpriv execs: same pid). */
  function asOwner(command: string, args: string[]): [string, string[]] {
    if (!runAs) return [command, args];
    const setpriv = requireTool('setpriv', 'install util-linux (`apt-get install -y util-linux`).');
    return [setpriv, [`--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups', '--', command, ...args]];
  }

  function chownToOwner(path: string): void {
    if (runAs) chownSync(path, runAs.uid, runAs.gid);
  }

  async function initCluster(): Promise<void> {
    ctx.say('postgres', `initialising a cluster in ${dataDir}`);
    // initdb into a side folder and rename, so a failed initdb never leaves a half cluster behind.
    const initDir = `${dataDir}.init`;
    const pwfile = join(dir, 'superuser.pw');
    rmSync(initDir, { recursive: true, force: true });
    writeFileSync(pwfile, `${postgresSuperPassword}\n`, { mode: 0o600 });
    chownToOwner(pwfile);
    try {
      const [command, args] = asOwner(join(bin, 'initdb'), ['-D', initDir, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth-local=scram-sha-256', '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C']);
      await run(command, args, { what: 'initdb', timeoutMs: 180_000, env: childEnv({ LANG: 'C' }), cwd: dir, log: prepareLog });
    } finally {
      rmSync(pwfile, { force: true });
    }
    renameSync(initDir, dataDir);
  }

  const client = (user: string, password: string, database: string): Client =>
    new Client({ host: HOST, port, user, password, database, connectionTimeoutMillis: 3000, query_timeout: 5000 });

  return {
    name: 'postgres',
    endpoint: `${HOST}:${port}`,
    ports: [port],
    after: [],
    // SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
    stopSignal: 'SIGINT',
    stopTimeoutMs: 30_000,
    owns: (cmd) => cmd.includes('postgres') && cmd.includes(`-D ${dataDir}`),

    async prepare() {
      bin = findBinDir() ?? '';
      if (!bin) {
        ctx.say('postgres', 'PostgreSQL not found: installing the Debian package postgresql');
        await aptInstall(['postgresql'], 'PostgreSQL', prepareLog);
        bin = findBinDir() ?? '';
        if (!bin) throw new StackError('PostgreSQL still not found after installing it (looked in /usr/lib/postgresql/*/bin and PATH)');
      }
      if (process.getuid?.() === 0) {
        runAs = systemUser('postgres') ?? systemUser('nobody');
        if (!runAs) throw new StackError('PostgreSQL does not run as root and there is no `postgres` or `nobody` user to run it as; create one (`useradd --system postgres`)');
      }
      mkdirSync(runDir, { recursive: true });
      chownToOwner(dir);
      chownToOwner(runDir);
      if (runAs) {
        // The owner must be able to reach the stack folder through every parent folder.
        const [command, args] = asOwner('test', ['-w', runDir]);
        if (spawnSync(command, args).status !== 0) {
          throw new StackError(`user ${runAs.user}, which runs PostgreSQL, cannot write to ${runDir}: a parent folder is not searchable by it. Make the parents world-searchable (chmod o+x) or set PERMITFLOW_STACK_DIR elsewhere.`);
        }
      }
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await initCluster();
    },

    start() {
      const [command, args] = asOwner(join(bin, 'postgres'), [
        '-D',
        dataDir,
        '-c',
        `listen_addresses=${HOST}`,
        '-c',
        `port=${port}`,
        // The socket and lock file stay in the stack folder, not /var/run/postgresql.
        '-c',
        `unix_socket_directories=${runDir}`,
        '-c',
        'shared_buffers=64MB',
        '-c',
        'max_connections=100',
        '-c',
        'logging_collector=off',
      ]);
      return Promise.resolve(spawnDetached({ paths: ctx.paths, name: 'postgres', command, args, env: childEnv({ LANG: 'C' }), cwd: dir }));
    },

    async probe() {
      const c = client(SUPERUSER, postgresSuperPassword, 'postgres');
      c.on('error', () => {});
      try {
        await withTimeout(c.connect(), 4000, 'postgres connect');
        await c.query('select 1');
      } finally {
        await c.end().catch(() => {});
      }
    },

    async configure() {
      const su = client(SUPERUSER, postgresSuperPassword, 'postgres');
      su.on('error', () => {});
      try {
        await su.connect();
        const password = su.escapeLiteral(postgresPassword);
        const role = await su.query('select 1 from pg_roles where rolname = $1', [APP_ROLE]);
        if (role.rowCount === 0) await su.query(`create role ${APP_ROLE} login nosuperuser nocreatedb nocreaterole password ${password}`);
        else await su.query(`alter role ${APP_ROLE} with login password ${password}`);
        const db = await su.query('select 1 from pg_database where datname = $1', [APP_DATABASE]);
        if (db.rowCount === 0) await su.query(`create database ${APP_DATABASE} owner ${APP_ROLE}`);
      } finally {
        await su.end().catch(() => {});
      }
      // Proves the credentials that go into the env file work.
      const app = client(APP_ROLE, postgresPassword, APP_DATABASE);
      app.on('error', () => {});
      try {
        await app.connect();
        await app.query('select 1');
      } finally {
        await app.end().catch(() => {});
      }
    },

    env: () => ({ DATABASE_URL: `postgres://${APP_ROLE}:${postgresPassword}@${HOST}:${port}/${APP_DATABASE}` }),
  };
}
