import type { ElectionLogger } from '../../lib/core/logger.js';

export interface LogLine {
  level: 'debug' | 'log' | 'warn' | 'error';
  message: string;
}

export class RecordingLogger implements ElectionLogger {
  readonly lines: LogLine[] = [];
  debug(message: string): void {
    this.lines.push({ level: 'debug', message });
  }
  log(message: string): void {
    this.lines.push({ level: 'log', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
  text(): string {
    return this.lines.map((line) => `${line.level}: ${line.message}`).join('\n');
  }
}
