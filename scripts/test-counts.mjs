// A node:test reporter for scripts/run-tests.mjs: one letter per finished test (p pass, f fail, s skip,
// t todo), appended at once to the file $LXDAPI_TEST_COUNTS. Appended synchronously because
// --test-force-exit ends the process as soon as the tests are done: a reporter that writes through a
// stream (tap to a file, say) loses its summary then.
import { appendFileSync } from 'node:fs';

export default async function* counts(source) {
  const file = process.env.LXDAPI_TEST_COUNTS;
  for await (const event of source) {
    if (!file || (event.type !== 'test:pass' && event.type !== 'test:fail')) continue;
    const { details, skip, todo } = event.data;
    if (details?.type === 'suite') continue;
    appendFileSync(file, todo !== undefined ? 't' : skip !== undefined ? 's' : event.type === 'test:pass' ? 'p' : 'f');
  }
  yield '';
}
