/** The options every command shares, as the program parsed them. */
export interface GlobalOptions {
  readonly quiet: boolean;
  readonly json: boolean;
  /** Progress bars: only when stdout and stderr are terminals, and not with --quiet or --json. */
  readonly progress: boolean;
}
