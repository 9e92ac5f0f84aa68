/**
 * True when the global timers are faked: @sinonjs/fake-timers (Jest's modern and Vitest's fake
 * timers) puts its clock on setTimeout; Jest's legacy fake timers make it a mock function.
 */
export function globalTimersAreFaked(): boolean {
  const timer = globalThis.setTimeout as { clock?: unknown; _isMockFunction?: unknown } | undefined;
  return Boolean(timer && (typeof timer.clock === 'object' || timer._isMockFunction === true));
}

export const fakeTimersWarning = (): string =>
  'Global timers are faked (Jest or Vitest fake timers) while the real LeaderElectionModule runs: a ' +
  'synchronous advanceTimersByTime() past the lease deadline ends the leadership before any renewal ' +
  'can run, so leader-only jobs stop. In tests, replace the module with LeaderElectionTestingModule ' +
  'from "nestjs-leader-election/testing" (Test.createTestingModule({ imports: [AppModule] ' +
  '}).overrideModule(<the LeaderElectionModule.forRoot() your AppModule ' +
  'imports>).useModule(LeaderElectionTestingModule.forRoot()); see "Testing your app" in the docs), ' +
  'or advance time with await jest.advanceTimersByTimeAsync() / vi.advanceTimersByTimeAsync().';
