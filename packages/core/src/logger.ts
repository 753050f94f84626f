/** How much PdCR says on its own: warnings only by default, everything with `verbose`. */
export type LogLevel = 'silent' | 'warn' | 'info' | 'debug';

const RANK: Record<LogLevel, number> = { silent: 0, warn: 1, info: 2, debug: 3 };

/** The one logger: fixed levels, a warn-once, messages built only when they will be shown. */
export class Logger {
  private readonly warned = new Set<string>();

  constructor(
    readonly level: LogLevel = 'warn',
    private readonly sink: (level: LogLevel, message: string) => void = (level, message) =>
      console.error(`pdcr ${level}: ${message}`),
  ) {}

  warn(message: string): void {
    this.emit('warn', () => message);
  }

  /** Says `message` the first time only. */
  warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.warn(message);
  }

  info(message: () => string): void {
    this.emit('info', message);
  }

  debug(message: () => string): void {
    this.emit('debug', message);
  }

  private emit(level: LogLevel, message: () => string): void {
    if (RANK[level] <= RANK[this.level]) this.sink(level, message());
  }
}
