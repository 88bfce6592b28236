import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
import { Observable } from 'rxjs';
import type { Batch } from '../src/data/batch.js';
import { featureSize } from '../src/data/dataset.js';
import { decodeRecord, type RecordSpec } from '../src/data/record.js';
import { LineSplitter } from '../src/data/lines.js';
import { DEFAULT_BATCH_SIZE } from '../src/data/sampler.js';

/**
 * Where live records come from: standard input, any Readable, a file that is being appended
 * to (followed like `tail -f`, from its first byte; `follow: false` stops at its current end),
 * or TCP clients on 127.0.0.1 (`port: 0` picks a free port; `clients` ends the stream after
 * that many clients have disconnected).
 */
export type LiveSpec =
  | 'stdin'
  | { readonly stream: Readable; readonly name?: string }
  | { readonly file: string; readonly follow?: boolean }
  | { readonly tcp: number; readonly clients?: number };

export interface LiveOptions extends RecordSpec {
  readonly batchSize?: number;
  /** Per-example shape of the batches (its product must be `features`); default [features]. */
  readonly shape?: readonly number[];
  /** A malformed line ends the stream with an error naming its line number, instead of being counted. */
  readonly strict?: boolean;
  /** How often a followed file is checked for new data. */
  readonly pollMs?: number;
  /** Longest line accepted, in characters. */
  readonly maxLineLength?: number;
  /**
   * An input that delivers no complete line for this long: stdin, a stream or a file ends the
   * source with a `LiveIdleError`; a TCP client is disconnected (its unfinished line counted
   * malformed), and the TCP source ends with a `LiveIdleError` when no client delivers a line
   * for this long. 0 waits forever. Default `LIVE_LIMITS.idleTimeoutMs`.
   */
  readonly idleTimeoutMs?: number;
  /** TCP: most clients connected at once; more are refused (counted in `refused`). */
  readonly maxClients?: number;
  /** TCP: most characters of unfinished lines held over all clients; past it the client holding the most is dropped. */
  readonly maxBuffered?: number;
  readonly onMalformed?: (problem: string) => void;
  /** The TCP port actually bound (useful with port 0). */
  readonly onListening?: (port: number) => void;
}

export interface LiveStats {
  /** Non-blank lines read. */
  lines: number;
  records: number;
  malformed: number;
  batches: number;
  /** The latest problem, with the input and line number. */
  lastError: string | undefined;
  /** TCP clients that have connected so far. */
  clients: number;
  /** TCP clients refused (over `maxClients`) and dropped (over `maxBuffered` or idle). */
  refused: number;
  dropped: number;
  port: number | undefined;
}

export interface LiveSource {
  /** Batches of `batchSize` records in arrival order; a last partial batch is emitted when the input ends. */
  readonly batches$: Observable<Batch>;
  /** Counts of the current (latest) subscription. */
  stats(): LiveStats;
}

/** Defaults of the live source's limits. */
export const LIVE_LIMITS = {
  /** Ten minutes without a complete line. */
  idleTimeoutMs: 600_000,
  maxClients: 256,
  /** 32 Mi characters of unfinished lines over all TCP clients (one line may have 16 Mi). */
  maxBuffered: 32 * 1024 * 1024,
  maxLineLength: 16 * 1024 * 1024,
} as const;

/** An input that delivered no complete line for the idle timeout. */
export class LiveIdleError extends Error {
  constructor(
    readonly input: string,
    readonly idleMs: number,
  ) {
    super(`${input}: no complete line for ${idleMs / 1000} s (the idle timeout); the feed looks stalled`);
    this.name = 'LiveIdleError';
  }
}

/** A malformed line in strict mode. */
export class LiveRecordError extends Error {
  constructor(
    readonly input: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${input} line ${line}: ${problem}`);
    this.name = 'LiveRecordError';
  }
}

/** A live input that cannot be opened (a missing file, a directory, a port in use): bad input, exit 2 at the CLI. */
export class LiveInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiveInputError';
  }
}

/** An input that lines are pushed into; `end` flushes its unterminated last line. */
interface LineSink {
  push(chunk: Uint8Array | string): void;
  end(): void;
  /** Characters of its unfinished line. */
  readonly buffered: number;
  /** When it last delivered a complete line (or was opened), in ms of the wiring's clock. */
  readonly lastLineAt: number;
  /** Drops its unfinished line, counted malformed with `problem`. */
  abandon(problem: string): void;
}

interface Wiring {
  /** A sink for one input (one per TCP client, so partial lines never mix). */
  sink(name: string): LineSink;
  /** The sink made last (the only one of stdin, a stream or a file). */
  readonly only: LineSink | undefined;
  complete(): void;
  fail(err: unknown): void;
  readonly closed: () => boolean;
  /** The clock the idle timeout reads (`ResponsiveClock`). */
  readonly clock: ResponsiveClock;
}

const emptyStats = (): LiveStats => ({
  lines: 0,
  records: 0,
  malformed: 0,
  batches: 0,
  lastError: undefined,
  clients: 0,
  refused: 0,
  dropped: 0,
  port: undefined,
});

/** NDJSON records {"x": [...], "y": label} from a live input, decoded, validated and batched. */
export function liveSource(spec: LiveSpec, opts: LiveOptions): LiveSource {
  const { features, batchSize = DEFAULT_BATCH_SIZE, strict = false } = opts;
  const shape = opts.shape ?? [features];
  if (!Number.isInteger(features) || features < 1) throw new RangeError(`live source: features must be an integer ≥ 1, got ${features}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`live source: batch size must be an integer ≥ 1, got ${batchSize}`);
  if (featureSize(shape) !== features)
    throw new RangeError(`live source: shape [${shape.join(', ')}] holds ${featureSize(shape)} values, not ${features} features`);
  let stats = emptyStats();

  const batches$ = new Observable<Batch>((subscriber) => {
    const current = emptyStats();
    stats = current;
    const batcher = new Batcher(features, batchSize, shape, opts.classes !== undefined);
    const emit = (batch: Batch) => {
      current.batches += 1;
      subscriber.next(batch);
    };
    let made: LineSink | undefined;
    const clock = new ResponsiveClock();
    const wiring: Wiring = {
      clock,
      get only() {
        return made;
      },
      sink: (name) => {
        let lineNo = 0;
        let lastLineAt = clock.now();
        const malformed = (problem: string) => {
          current.malformed += 1;
          current.lastError = `${name} line ${lineNo}: ${problem}`;
          opts.onMalformed?.(current.lastError);
          if (strict) subscriber.error(new LiveRecordError(name, lineNo, problem));
        };
        const splitter = new LineSplitter(
          {
            line: (text) => {
              lineNo += 1;
              lastLineAt = clock.now();
              if (subscriber.closed || text.trim() === '') return;
              current.lines += 1;
              const record = decodeRecord(text, opts);
              if (E.isLeft(record)) return malformed(record.left);
              current.records += 1;
              const full = batcher.add(record.right.x, record.right.y);
              if (full !== undefined) emit(full);
            },
            overlong: (length) => {
              lineNo += 1;
              lastLineAt = clock.now();
              if (subscriber.closed) return;
              current.lines += 1;
              malformed(`line of ${length} characters is longer than the limit of ${opts.maxLineLength ?? LIVE_LIMITS.maxLineLength}`);
            },
          },
          opts.maxLineLength ?? LIVE_LIMITS.maxLineLength,
        );
        made = {
          push: (chunk) => splitter.push(chunk),
          end: () => splitter.end(),
          get buffered() {
            return splitter.buffered;
          },
          get lastLineAt() {
            return lastLineAt;
          },
          abandon: (problem) => {
            const length = splitter.discard();
            if (length === 0 || subscriber.closed) return;
            lineNo += 1;
            current.lines += 1;
            malformed(`unfinished line of ${length} characters dropped: ${problem}`);
          },
        };
        return made;
      },
      complete: () => {
        if (subscriber.closed) return;
        const rest = batcher.flush();
        if (rest !== undefined) emit(rest);
        subscriber.complete();
      },
      fail: (err) => subscriber.error(err),
      closed: () => subscriber.closed,
    };
    return connect(spec, wiring, opts, current);
  });
  return { batches$, stats: () => stats };
}

/** Collects records into fixed-size batches. */
class Batcher {
  private x: Float32Array;
  private y: Int32Array | Float32Array;
  private n = 0;

  constructor(
    private readonly features: number,
    private readonly size: number,
    private readonly shape: readonly number[],
    private readonly integerLabels: boolean,
  ) {
    [this.x, this.y] = this.fresh();
  }

  private fresh(): [Float32Array, Int32Array | Float32Array] {
    return [new Float32Array(this.size * this.features), this.integerLabels ? new Int32Array(this.size) : new Float32Array(this.size)];
  }

  add(x: readonly number[], y: number): Batch | undefined {
    this.x.set(x, this.n * this.features);
    this.y[this.n] = y;
    this.n += 1;
    if (this.n < this.size) return undefined;
    const batch: Batch = { x: this.x, y: this.y, shape: this.shape, size: this.size };
    [this.x, this.y] = this.fresh();
    this.n = 0;
    return batch;
  }

  /** The records collected so far as a smaller batch (copied), if any. */
  flush(): Batch | undefined {
    if (this.n === 0) return undefined;
    const batch: Batch = { x: this.x.slice(0, this.n * this.features), y: this.y.slice(0, this.n), shape: this.shape, size: this.n };
    this.n = 0;
    return batch;
  }
}

function connect(spec: LiveSpec, wiring: Wiring, opts: LiveOptions, stats: LiveStats): () => void {
  const idleMs = opts.idleTimeoutMs ?? LIVE_LIMITS.idleTimeoutMs;
  if (spec !== 'stdin' && 'tcp' in spec) return fromTcp(spec.tcp, spec.clients, wiring, opts, stats, idleMs);
  const [name, stop] =
    spec === 'stdin'
      ? (['stdin', fromReadable(process.stdin, 'stdin', wiring)] as const)
      : 'stream' in spec
        ? ([spec.name ?? 'stream', fromReadable(spec.stream, spec.name ?? 'stream', wiring)] as const)
        : ([spec.file, fromFile(spec.file, spec.follow ?? true, opts.pollMs ?? 50, wiring)] as const);
  const watch = watchIdle(idleMs, wiring.clock, () => {
    const sink = wiring.only;
    if (sink !== undefined && wiring.clock.now() - sink.lastLineAt > idleMs) wiring.fail(new LiveIdleError(name, idleMs));
  });
  return () => {
    watch();
    stop();
  };
}

/** Calls `check` (after ticking `clock`) a few times per idle period (never for 0); returns the function that stops it. */
function watchIdle(idleMs: number, clock: ResponsiveClock, check: () => void): () => void {
  if (idleMs === 0) return () => undefined;
  const everyMs = Math.max(10, Math.min(1000, idleMs / 4));
  const timer = setInterval(() => {
    clock.tick(2 * everyMs);
    check();
  }, everyMs);
  return () => clearInterval(timer);
}

/**
 * Wall time less the part of each gap between ticks beyond the gap the ticker allows. While the event loop is
 * busy (a long synchronous step, a loaded machine) lines already waiting are not read either;
 * counting that time as idle would call a feed stalled whose next line sits unread.
 */
class ResponsiveClock {
  private lost = 0;
  private lastTick = Date.now();

  tick(maxGapMs: number): void {
    const now = Date.now();
    this.lost += Math.max(0, now - this.lastTick - maxGapMs);
    this.lastTick = now;
  }

  now(): number {
    return Date.now() - this.lost;
  }
}

function fromReadable(stream: Readable, name: string, wiring: Wiring): () => void {
  const sink = wiring.sink(name);
  const onData = (chunk: Buffer | string) => sink.push(chunk);
  const onEnd = () => {
    sink.end();
    wiring.complete();
  };
  const onError = (err: Error) => wiring.fail(new Error(`${name}: read failed (${err.message})`));
  stream.on('data', onData).once('end', onEnd).once('error', onError);
  return () => {
    stream.off('data', onData).off('end', onEnd).off('error', onError);
    if (stream === process.stdin) stream.pause();
  };
}

/** Follows a file by polling its size: portable (fs.watch misses appends on some file systems). */
function fromFile(path: string, follow: boolean, pollMs: number, wiring: Wiring): () => void {
  const sink = wiring.sink(path);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let handle: FileHandle | undefined;
  const buffer = Buffer.alloc(1024 * 1024);
  let offset = 0;

  const poll = async (): Promise<void> => {
    if (handle === undefined) return;
    const { size } = await handle.stat();
    if (size < offset)
      throw new Error(`${path}: the file shrank from ${offset} to ${size} bytes (truncated or replaced); records already read cannot be told from new ones`);
    while (!stopped && offset < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - offset), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      sink.push(buffer.subarray(0, bytesRead));
    }
    if (stopped) return;
    if (!follow) {
      sink.end();
      wiring.complete();
      return;
    }
    timer = setTimeout(() => void poll().catch(onError), pollMs);
  };
  const onError = (err: unknown) => {
    if (!stopped) wiring.fail(err instanceof Error ? err : new Error(String(err)));
  };

  open(path, 'r')
    .then(
      async (h) => {
        if (stopped) return void h.close();
        handle = h;
        if ((await h.stat()).isDirectory()) throw new LiveInputError(`live:file:${path}: is a directory; name the file the records are appended to`);
        return poll();
      },
      (err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
        throw new LiveInputError(`live:file:${path}: cannot open the live data file (${why})`);
      },
    )
    .catch(onError);

  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    void handle?.close().catch(() => undefined);
  };
}

/**
 * Listens on 127.0.0.1 only: live data is a local feed, never exposed to the network. Memory
 * stays bounded: at most `maxClients` connections, at most `maxBuffered` characters of
 * unfinished lines over all of them, and clients idle past the timeout are disconnected.
 */
function fromTcp(port: number, clients: number | undefined, wiring: Wiring, opts: LiveOptions, stats: LiveStats, idleMs: number): () => void {
  const maxBuffered = opts.maxBuffered ?? LIVE_LIMITS.maxBuffered;
  const open = new Map<Socket, LineSink>();
  let buffered = 0;
  let finished = 0;
  let lastLineAt = wiring.clock.now();
  const drop = (socket: Socket, sink: LineSink, problem: string) => {
    stats.dropped += 1;
    buffered -= sink.buffered;
    sink.abandon(problem);
    socket.destroy();
  };
  const server = createServer((socket) => {
    stats.clients += 1;
    const sink = wiring.sink(`tcp client ${stats.clients} (${socket.remoteAddress}:${socket.remotePort})`);
    open.set(socket, sink);
    socket.on('data', (chunk) => {
      const before = sink.buffered;
      sink.push(chunk);
      buffered += sink.buffered - before;
      if (sink.lastLineAt > lastLineAt) lastLineAt = sink.lastLineAt;
      while (buffered > maxBuffered) {
        let hog: [Socket, LineSink] | undefined;
        for (const entry of open) if (hog === undefined || entry[1].buffered > hog[1].buffered) hog = entry;
        drop(hog![0], hog![1], `the clients' unfinished lines passed ${maxBuffered} characters in all; this client held the most`);
      }
    });
    // A reset peer is just a client gone; what it sent is kept, its cut-off last line is malformed.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (wiring.closed()) return;
      buffered -= sink.buffered;
      open.delete(socket);
      sink.end();
      finished += 1;
      if (clients !== undefined && finished >= clients) wiring.complete();
    });
  });
  server.maxConnections = opts.maxClients ?? LIVE_LIMITS.maxClients;
  server.on('drop', () => {
    stats.refused += 1;
    stats.lastError = `tcp 127.0.0.1:${stats.port ?? port}: a client was refused: ${server.maxConnections} are connected, the limit`;
  });
  server.once('error', (err: NodeJS.ErrnoException) => {
    const why = err.code === 'EADDRINUSE' ? 'the port is in use by another program' : err.message;
    wiring.fail(new LiveInputError(`live:tcp:${port}: cannot listen on 127.0.0.1:${port} (${why})`));
  });
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    if (address !== null && typeof address === 'object') {
      stats.port = address.port;
      opts.onListening?.(address.port);
    }
  });
  const watch = watchIdle(idleMs, wiring.clock, () => {
    const now = wiring.clock.now();
    for (const [socket, sink] of open) if (now - sink.lastLineAt > idleMs) drop(socket, sink, `no complete line for ${idleMs / 1000} s (the idle timeout)`);
    if (now - lastLineAt > idleMs) wiring.fail(new LiveIdleError(`tcp 127.0.0.1:${stats.port ?? port}`, idleMs));
  });
  return () => {
    watch();
    for (const s of open.keys()) s.destroy();
    server.close();
  };
}
