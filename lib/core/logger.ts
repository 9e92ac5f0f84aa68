/** The logging surface the election needs; Nest's Logger and most loggers satisfy it. */
export interface ElectionLogger {
  debug?(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  /** `stack`: the failure's stack and cause chain, as Nest's Logger.error(message, stack) takes it. */
  error(message: string, stack?: string): void;
}

/** Default logger outside Nest: warnings and errors to the console, the rest dropped. */
export function consoleLogger(context: string): ElectionLogger {
  return {
    log: () => undefined,
    warn: (message) => console.warn(`[${context}] ${message}`),
    error: (message, stack) => console.error(`[${context}] ${message}${stack ? `\n${stack}` : ''}`),
  };
}

export const silentLogger: ElectionLogger = {
  debug: () => undefined,
  log: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Loggers made by safeLogger, so wrapping one again returns it as is. */
const safeLoggers = new WeakSet<object>();

/**
 * Wraps a user-supplied logger so that logging can never break the election: a missing method is
 * skipped and a throwing one is ignored. The loop logs from inside its error handling, so a logger
 * that throws there would otherwise end the loop (and reject a promise nobody awaits).
 */
export function safeLogger(logger: Partial<ElectionLogger>): ElectionLogger {
  // The service hands its wrapped logger to each elector.
  if (safeLoggers.has(logger)) return logger as ElectionLogger;
  const call = (method: keyof ElectionLogger, message: string, stack?: string): void => {
    try {
      const fn = logger[method] as ((...args: string[]) => void) | undefined;
      if (typeof fn === 'function') {
        if (stack === undefined) fn.call(logger, message);
        else fn.call(logger, message, stack);
      }
    } catch {
      // Nothing sensible to do: the logger itself is broken.
    }
  };
  const safe: ElectionLogger = {
    debug: (message) => call('debug', message),
    log: (message) => call('log', message),
    warn: (message) => call('warn', message),
    error: (message, stack) => call('error', message, stack),
  };
  safeLoggers.add(safe);
  return safe;
}
