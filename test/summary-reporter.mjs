// node:test reporter: the spec reporter's output, then every skipped test and suite with its file and reason.
//
// Why: a skipped suite (`describe(..., { skip })`) never runs its body, so the runner neither counts its tests
// nor lists it in its "skipped" figure — 11 interop tests that did not run showed as "skipped 0" or "1".
// This reporter passes every event to spec unchanged except the summary's "skipped N" line, which it
// replaces with the tests and suites it saw skipped, and lists them all at the very end. The tests inside
// a skipped suite are unknown to the runner (their declarations never run), so the suite is named with its
// reason rather than given a made-up count.
import { Transform } from 'node:stream';
import { relative } from 'node:path';
import { spec as Spec } from 'node:test/reporters';

export default class SummaryReporter extends Transform {
  constructor() {
    super({ writableObjectMode: true });
    this.inner = new Spec();
    this.inner.on('data', (chunk) => this.push(chunk));
    /** Names of the tests being run, per file and nesting level (to name a skipped subtest by its path). */
    this.stacks = new Map();
    /** The same across files: a test declared in a helper module (a shared compliance suite) reports that
     *  module as its file, while its parents report the test file that imported it. */
    this.lastStarted = [];
    /** Every skipped test/suite: { kind, file, path, reason }. */
    this.skipped = [];
  }

  _transform(event, _encoding, callback) {
    const d = event.data ?? {};
    if (event.type === 'test:start') {
      const stack = this.stacks.get(d.file) ?? [];
      stack.length = d.nesting;
      stack.push(d.name);
      this.stacks.set(d.file, stack);
      this.lastStarted.length = d.nesting;
      this.lastStarted.push(d.name);
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && d.skip !== undefined && d.skip !== false) {
      let parents = (this.stacks.get(d.file) ?? []).slice(0, d.nesting);
      if (Array.from(parents).some((p) => p === undefined) || parents.length < d.nesting) parents = this.lastStarted.slice(0, d.nesting); // Array.from: holes
      this.skipped.push({
        kind: d.details?.type === 'suite' ? 'suite' : 'test',
        file: d.file === undefined ? '?' : relative(process.cwd(), d.file),
        path: [...parents, d.name].join(' › '),
        reason: typeof d.skip === 'string' ? d.skip.replace(/^skipped:\s*/, '') : '(no reason given)',
      });
    } else if (event.type === 'test:diagnostic' && d.nesting === 0 && /^skipped \d+$/.test(d.message ?? '')) {
      event = { ...event, data: { ...d, message: `skipped ${this.countLine()}${this.skipped.length > 0 ? ' (listed at the end)' : ''}` } };
    }
    this.inner.write(event, callback);
  }

  _flush(callback) {
    this.inner.once('end', () => {
      if (this.skipped.length > 0) {
        const lines = ['', `skipped: ${this.countLine()} — these did not run:`];
        for (const s of this.skipped) lines.push(`  ﹣ ${s.kind.padEnd(5)} ${s.file} › ${s.path}`, `           why: ${s.reason}`);
        if (this.skipped.some((s) => s.kind === 'suite')) lines.push('  (a skipped suite\'s tests are never declared, so the runner cannot count them: each suite is named instead)');
        this.push(lines.join('\n') + '\n');
      }
      callback();
    });
    this.inner.end();
  }

  countLine() {
    const tests = this.skipped.filter((s) => s.kind === 'test').length;
    const suites = this.skipped.length - tests;
    return `${tests} test${tests === 1 ? '' : 's'} and ${suites} whole suite${suites === 1 ? '' : 's'}`;
  }
}
