/**
 * Node flags the relay program runs with: `npm start`, deploy/Dockerfile,
 * the systemd unit (as `NODE_OPTIONS`), the test fixtures and the
 * benchmarks pass them (a test checks); the `#!` line cannot (BusyBox's
 * `env`, on Alpine, has no `-S`). V8 sizes the young generation from the
 * machine's memory: on a 24 GiB host it grew to about 100 MiB while the
 * relay admitted clients and stayed resident, most of its RSS growth
 * (172–188 KiB per reservation at 2,000 clients, against 88–124 KiB with
 * 16 MiB semi-spaces, V8's long-time 64-bit default;
 * `BENCH=capacity npm run bench`).
 *
 * This module imports nothing: the test fixtures load it in aegir's own
 * process, which strips types only and cannot load the protons-generated
 * code the rest of the relay imports.
 */
export const RELAY_NODE_FLAGS = ['--max-semi-space-size=16']
