import { StringDecoder } from 'node:string_decoder';

export interface LineHandler {
  /** A complete line without its terminator (\n or \r\n). */
  line(text: string): void;
  /** A line longer than the limit, dropped unread; `length` counts the characters seen. */
  overlong(length: number): void;
}

/**
 * Splits a byte stream into lines: chunks may end anywhere, even inside a multi-byte UTF-8
 * character. A line longer than `maxLength` is dropped as soon as it exceeds the limit, so a
 * peer that never sends a newline cannot exhaust memory.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private dropped = 0;

  constructor(
    private readonly handler: LineHandler,
    private readonly maxLength = 16 * 1024 * 1024,
  ) {}

  /** Characters held of the unfinished line (a line over the limit holds none). */
  get buffered(): number {
    return this.pending.length;
  }

  /** Forgets the unfinished line; returns how many characters it had reached. */
  discard(): number {
    const length = this.dropped > 0 ? this.dropped : this.pending.length;
    this.pending = '';
    this.dropped = 0;
    return length;
  }

  push(chunk: Uint8Array | string): void {
    this.scan(typeof chunk === 'string' ? chunk : this.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  }

  /** The input ended: an unterminated last line is handed on like any other. */
  end(): void {
    this.scan(this.decoder.end());
    if (this.dropped > 0) this.handler.overlong(this.dropped);
    else if (this.pending !== '') this.handler.line(stripCr(this.pending));
    this.pending = '';
    this.dropped = 0;
  }

  private scan(text: string): void {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      if (this.dropped > 0) this.handler.overlong(this.dropped + piece.length);
      else if (this.pending.length + piece.length > this.maxLength) this.handler.overlong(this.pending.length + piece.length);
      else this.handler.line(stripCr(this.pending + piece));
      this.pending = '';
      this.dropped = 0;
      start = nl + 1;
    }
    const rest = text.slice(start);
    if (this.dropped > 0) this.dropped += rest.length;
    else if (this.pending.length + rest.length > this.maxLength) {
      this.dropped = this.pending.length + rest.length;
      this.pending = '';
    } else this.pending += rest;
  }
}

const stripCr = (s: string) => (s.endsWith('\r') ? s.slice(0, -1) : s);
