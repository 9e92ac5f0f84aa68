/** The logging surface the election needs; Nest's Logger and most loggers satisfy it. */
export interface ElectionLogger {
  debug?(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Default logger outside Nest: warnings and errors to the console, the rest dropped. */
export function consoleLogger(context: string): ElectionLogger {
  return {
    log: () => undefined,
    warn: (message) => console.warn(`[${context}] ${message}`),
    error: (message) => console.error(`[${context}] ${message}`),
  };
}

export const silentLogger: ElectionLogger = {
  debug: () => undefined,
  log: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
