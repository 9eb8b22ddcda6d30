import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Tests that measure a child process's memory or count sockets must not share the CPU
    // with a dozen other files; two workers is what CI's 2-core machine has anyway.
    maxWorkers: 2,
  },
});
