import { Redis } from 'ioredis';
import type { RedisAddress } from '../../src/config/redisUrl.js';

/** A queue on a Redis server: where it is (the URL only ever shown redacted) and its name. */
export interface QueueTarget {
  readonly address: RedisAddress;
  /** The URL with its password replaced, for messages. */
  readonly shown: string;
  readonly name: string;
}

/** Prefix of lgl2o's own keys (run snapshots) next to BullMQ's `bull:NAME:*`. */
export const snapshotPrefix = (t: QueueTarget) => `lgl2o:${t.name}`;

/**
 * A Redis connection that waits out an outage: commands queue while it reconnects (every
 * 0.2–2 s, forever), as BullMQ needs for its blocking calls. Connection errors are reported
 * once per distinct message, never with the password.
 */
export function redisConnection(t: QueueTarget, role: string, log: (line: string) => void): Redis {
  const a = t.address;
  const redis = new Redis({
    host: a.host,
    port: a.port,
    db: a.db,
    ...(a.username !== undefined ? { username: a.username } : {}),
    ...(a.password !== undefined ? { password: a.password } : {}),
    ...(a.tls ? { tls: {} } : {}),
    connectionName: `lgl2o-${role}`,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
  let last = '';
  redis.on('error', (err: Error) => {
    const message = err.message.split(a.password ?? '\u0000').join('***');
    if (message !== last) log(`queue ${t.shown} (${role}): ${message}; retrying`);
    last = message;
  });
  redis.on('ready', () => {
    if (last !== '') log(`queue ${t.shown} (${role}): connected again`);
    last = '';
  });
  return redis;
}
