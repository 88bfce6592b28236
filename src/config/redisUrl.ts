import * as E from 'fp-ts/lib/Either.js';

/** Where the queue's Redis is: from `redis://[[USER]:PASSWORD@]HOST:PORT[/DB]` (or `rediss://` for TLS). */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
  readonly tls: boolean;
}

/** The URL with its password replaced by `***`: the only form of a queue URL that may reach a log. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return `${scheme}${colon < 0 ? '***' : `${auth.slice(0, colon)}:***`}@`;
  });
}

/** Parses a queue URL; errors name the (redacted) URL and what is wrong with it. */
export function parseRedisUrl(text: string): E.Either<Error, RedisAddress> {
  const fail = (why: string) => E.left(new Error(`--queue ${redactUrl(text)}: ${why} (expected redis://[:PASSWORD@]HOST:PORT)`));
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail('not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return fail(`unsupported scheme ${url.protocol}`);
  if (url.hostname === '') return fail('no host');
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) return fail(`database "${path}" is not a number`);
  if (url.search !== '' || url.hash !== '') return fail('query and fragment are not supported');
  const password = decodeURIComponent(url.password);
  const username = decodeURIComponent(url.username);
  return E.right({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db: path === '' ? 0 : Number(path),
    tls: url.protocol === 'rediss:',
    ...(username !== '' ? { username } : {}),
    ...(password !== '' ? { password } : {}),
  });
}
