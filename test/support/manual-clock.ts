// The manual clock is part of the public testing kit (nestjs-leader-election/testing).
export { ManualClock, settle } from '../../lib/testing/manual-clock.js';
